module mirage/bench/loadgen

go 1.22
