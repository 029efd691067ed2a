"""Parquet files of cases: the export's writer and the import's reader (pyarrow).

Both work a row group / record batch at a time, so memory stays flat whatever the file's
size. The export has one column per case field plus `id`, like the CSV and JSONL exports:
`input_data`, `ground_truth` and `metadata` are JSON text (their shape differs from case to
case, which an Arrow struct cannot hold), `tags` a list of strings, `is_verified` a boolean,
`external_id` a nullable string. The reader hands rows over as plain Python values that JSON
can hold: structs become objects, maps objects, timestamps and dates ISO 8601 strings,
decimals numbers, NaN null; a binary value is reported, since JSON has no bytes.
"""

from __future__ import annotations

import datetime
import decimal
import io
import math
from collections.abc import Iterable, Iterator
from typing import IO, Any

from cases.validation import FIELDS, JSON_FIELDS

ROW_GROUP = 10_000  # rows per row group written (and per batch read)
CONTENT_TYPE = "application/vnd.apache.parquet"
EXPORT_COLUMNS = ("id", *FIELDS)


class ParquetError(ValueError):
    """The file cannot be read as Parquet at all (not Parquet, truncated)."""


class UnstorableValue(ValueError):
    """A cell JSON cannot hold (binary data)."""


def _export_schema():
    import pyarrow as pa

    types = {name: pa.string() for name in EXPORT_COLUMNS}
    types |= {"id": pa.int64(), "tags": pa.list_(pa.string()), "is_verified": pa.bool_()}
    metadata = {"mleval.json_columns": ",".join(JSON_FIELDS)}
    return pa.schema([(name, types[name]) for name in EXPORT_COLUMNS], metadata=metadata)


class _Sink(io.RawIOBase):
    """Where the writer writes: collects the bytes until `take()` hands them on."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def parquet_chunks(rows: Iterable[tuple]) -> Iterator[bytes]:
    """The Parquet file of `rows` (tuples of EXPORT_COLUMNS, JSON columns as JSON text), one
    row group at a time: each chunk is yielded as soon as its rows are written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _export_schema()
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")

    def group(batch: list[tuple]) -> pa.Table:
        columns = list(zip(*batch, strict=True))
        return pa.Table.from_arrays(
            [
                pa.array(column, type=field.type)
                for column, field in zip(columns, schema, strict=True)
            ],
            schema=schema,
        )

    row_group = ROW_GROUP
    try:
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= row_group:
                writer.write_table(group(batch))
                batch = []
                yield sink.take()
        if batch:
            writer.write_table(group(batch))
    finally:
        writer.close()
    yield sink.take()


class ParquetTable:
    """A Parquet file opened for reading: its column names now, its rows batch by batch."""

    def __init__(self, source: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self.file = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as error:
            raise ParquetError(f"not a readable Parquet file ({_first_line(error)})") from None
        schema = self.file.schema_arrow
        self.columns: list[str] = list(schema.names)
        self.num_rows: int = self.file.metadata.num_rows
        self._plain = {field.name: _is_plain(field.type) for field in schema}

    def rows(self, columns: Iterable[str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number from 1, {column: value}) for every row; only `columns` are read (all
        when None). A value JSON cannot hold is an UnstorableValue in its place."""
        import pyarrow as pa

        wanted = list(self.columns if columns is None else dict.fromkeys(columns))
        converters = {name: None if self._plain[name] else _jsonable for name in wanted}
        number = 0
        try:
            for batch in self.file.iter_batches(batch_size=ROW_GROUP, columns=wanted):
                for row in batch.to_pylist():
                    number += 1
                    for name, convert in converters.items():
                        if convert is not None:
                            row[name] = _converted(row[name])
                    yield number, row
        except (pa.ArrowException, OSError) as error:
            raise ParquetError(
                f"the file stopped being readable after row {number} ({_first_line(error)})"
            ) from None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _is_plain(arrow_type) -> bool:
    """Whether to_pylist() already gives JSON values for this type (no float NaN, no dates)."""
    import pyarrow.types as t

    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_boolean(arrow_type):
        return True
    if t.is_integer(arrow_type) or t.is_null(arrow_type):
        return True
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return _is_plain(arrow_type.value_type)
    if t.is_struct(arrow_type):
        return all(_is_plain(arrow_type.field(i).type) for i in range(arrow_type.num_fields))
    return False


def _converted(value: Any) -> Any:
    try:
        return _jsonable(value)
    except UnstorableValue as error:
        return error


def _jsonable(value: Any) -> Any:
    """A Python value from pyarrow as JSON can hold it (see the module's docstring)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        if value and all(type(item) is tuple and len(item) == 2 for item in value):
            return {str(key): _jsonable(item) for key, item in value}  # an Arrow map
        return [_jsonable(item) for item in value]
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise UnstorableValue("binary data, which JSON cannot hold")
    raise UnstorableValue(f"a {type(value).__name__}, which JSON cannot hold")
