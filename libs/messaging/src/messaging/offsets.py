"""Which offsets of a partition are safe to commit while records finish out of order.

Records of one partition are handed to many lanes (one per key) and finish in
any order. The offset committed for a partition is the one after the longest
run of handed-out records that are all finished: a record that is still
running, waiting in its lane, or was dropped at a revocation holds the commit
back, so a restart never skips it.
"""

from __future__ import annotations

from collections import deque

from aiokafka import TopicPartition


class PartitionProgress:
    """The records of one partition handed to lanes, in offset order, and how far they are done."""

    __slots__ = ("_done", "_handed_out", "committed", "next_offset")

    def __init__(self) -> None:
        self._handed_out: deque[int] = deque()
        self._done: set[int] = set()
        # The offset to commit (one past the last record of the finished run), once known.
        self.next_offset: int | None = None
        # What was last committed (None: nothing yet in this assignment).
        self.committed: int | None = None

    def handed_out(self, offset: int) -> None:
        """A record was given to its lane (offsets arrive in increasing order)."""
        self._handed_out.append(offset)

    def finished(self, offset: int) -> None:
        """A record's work is durable (handled, skipped or dead-lettered)."""
        self._done.add(offset)
        handed_out, done = self._handed_out, self._done
        while handed_out and handed_out[0] in done:
            first = handed_out.popleft()
            done.discard(first)
            self.next_offset = first + 1

    @property
    def pending(self) -> int:
        """Records handed out and not finished yet."""
        return len(self._handed_out) - len(self._done)

    @property
    def uncommitted(self) -> int | None:
        """The offset to commit now, when it moved since the last commit."""
        if self.next_offset is None or self.next_offset == self.committed:
            return None
        return self.next_offset


class OffsetBook:
    """`PartitionProgress` for every partition a consumer currently holds."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionProgress] = {}

    def progress(self, partition: TopicPartition) -> PartitionProgress:
        """The progress of `partition`, created on first use."""
        progress = self._partitions.get(partition)
        if progress is None:
            progress = self._partitions[partition] = PartitionProgress()
        return progress

    def finished(self, partition: TopicPartition, offset: int) -> None:
        """A record of `partition` is done (ignored once the partition was forgotten)."""
        progress = self._partitions.get(partition)
        if progress is not None:
            progress.finished(offset)

    def to_commit(self, partitions: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets that moved since their last commit (of `partitions`, or of all)."""
        return {
            partition: offset
            for partition, progress in self._partitions.items()
            if (partitions is None or partition in partitions)
            and (offset := progress.uncommitted) is not None
        }

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        """Record a successful commit of `offsets`."""
        for partition, offset in offsets.items():
            progress = self._partitions.get(partition)
            if progress is not None:
                progress.committed = offset

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the state of partitions this consumer no longer holds."""
        for partition in partitions:
            self._partitions.pop(partition, None)

    @property
    def partitions(self) -> set[TopicPartition]:
        """Partitions with any state."""
        return set(self._partitions)
