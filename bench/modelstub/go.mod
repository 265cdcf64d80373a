module mirage/bench/modelstub

go 1.22
