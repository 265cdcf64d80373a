"""An empty copy of the analytics schema, made from the catalog (the migrations stay the one
definition of its tables and views).

Tables are copied with `CREATE TABLE … (LIKE … INCLUDING ALL EXCLUDING INDEXES)` and their
indexes and key constraints recreated under their own names (a later migration can name
them); views and materialized views
(created without data) from `pg_get_viewdef`, rendered with an empty search path so every
name is schema-qualified and the source schema's name can be swapped for the target's; the
indexes of materialized views from `pg_get_indexdef`. Objects are created in the order
they were created in the source (their OIDs), so a view comes after what it reads.
"""

from __future__ import annotations

from database import Connection

_OBJECTS = """
SELECT c.oid, c.relname, c.relkind::text AS relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm') ORDER BY c.oid
"""
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid) AS definition, con.conname, pg_get_constraintdef(con.oid) AS constraint
FROM pg_index i
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = $1 ORDER BY i.indexrelid
"""


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.islower():
        raise ValueError(f"unexpected schema or relation name {name!r}")
    return name


async def clone_schema(conn: Connection, source: str, target: str) -> list[str]:
    """Create `target` as an empty copy of `source` (inside the caller's transaction); what was created."""
    source, target = _quoted(source), _quoted(target)
    await conn.execute(f"DROP SCHEMA IF EXISTS {target} CASCADE")
    await conn.execute(f"CREATE SCHEMA {target}")
    # Every name in the definitions read below comes out schema-qualified (until the commit).
    await conn.execute("SET LOCAL search_path = pg_catalog")
    created: list[str] = []
    for row in await conn.fetch(_OBJECTS, source):
        name = _quoted(row["relname"])
        kind = row["relkind"]
        if kind == "r":
            await conn.execute(
                f"CREATE TABLE {target}.{name} (LIKE {source}.{name} INCLUDING ALL EXCLUDING INDEXES)"
            )
        else:
            definition = await conn.fetchval("SELECT pg_get_viewdef($1::oid)", row["oid"])
            body = definition.strip().rstrip(";").replace(f"{source}.", f"{target}.")
            if kind == "v":
                await conn.execute(f"CREATE VIEW {target}.{name} AS {body}")
            else:
                await conn.execute(f"CREATE MATERIALIZED VIEW {target}.{name} AS {body} WITH NO DATA")
        for index in await conn.fetch(_INDEXES, row["oid"]):
            if index["conname"] is not None:
                await conn.execute(
                    f'ALTER TABLE {target}.{name} ADD CONSTRAINT "{index["conname"]}" {index["constraint"]}'
                )
            else:
                await conn.execute(index["definition"].replace(f" ON {source}.", f" ON {target}.", 1))
        created.append(name)
    return created
