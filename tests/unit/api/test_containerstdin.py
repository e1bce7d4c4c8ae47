"""The records an attach writes into a container's stdin FIFO."""

from __future__ import annotations

from sliceplane.api.containerstdin import DATA, DETACH, MAX_DATA, PIPE_BUF, Reader, records


def test_records_round_trip_across_any_split_of_the_reads() -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes: three records
    written = records(DATA, data) + records(DETACH)
    assert all(len(r) <= PIPE_BUF for r in written)
    assert len(written) == 4
    stream = b"".join(written)
    for step in (1, 7, 4096, len(stream)):
        reader = Reader()
        got = []
        for start in range(0, len(stream), step):
            got += reader.feed(stream[start : start + step])
        assert b"".join(p for k, p in got if k == DATA) == data
        assert [k for k, _ in got] == [DATA, DATA, DATA, DETACH]


def test_no_data_is_no_record_and_a_detach_is_empty() -> None:
    assert records(DATA, b"") == []
    assert records(DETACH) == [bytes((DETACH, 0, 0))]
    assert len(records(DATA, b"x" * MAX_DATA)) == 1
    assert len(records(DATA, b"x" * (MAX_DATA + 1))) == 2
