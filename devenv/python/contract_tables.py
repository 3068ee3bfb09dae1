"""The Unity Catalog routes the product's table inventory reads (migration/tables.ts), judged by the SDK's typed methods:
the workspace's metastore assignment, and the catalog, schema and table listings, paged as the SDK pages them (the
contract test makes the server's pages short and seeds a managed Delta table with its size, an external Parquet table
and a view in `main.quant`, and the Hive metastore's `default` schema)."""
from databricks.sdk.service import catalog

from contract_runner import need


def register(case):
    @case("GET /api/2.1/unity-catalog/current-metastore-assignment")
    def metastore(x):
        a = x.w.metastores.current()
        need(a.metastore_id and isinstance(a.workspace_id, int), f"the metastore assignment: {a}")
        x.metastore_id = a.metastore_id
        return "assigned"

    @case("GET /api/2.1/unity-catalog/catalogs")
    def catalogs(x):
        got = {c.name: c for c in x.w.catalogs.list()}
        need(x.uc["catalog"] in got and "hive_metastore" in got, f"the catalogs: {sorted(got)}")
        c = got[x.uc["catalog"]]
        need(
            c.catalog_type == catalog.CatalogType.MANAGED_CATALOG and c.isolation_mode == catalog.CatalogIsolationMode.OPEN and c.metastore_id == x.metastore_id,
            f"the catalog: {c}",
        )
        need(got["system"].catalog_type == catalog.CatalogType.SYSTEM_CATALOG, f"the system catalog: {got['system']}")
        return sorted(got)

    @case("GET /api/2.1/unity-catalog/schemas")
    def schemas(x):
        names = [s.name for s in x.w.schemas.list(x.uc["catalog"])]
        need(x.uc["schema"] in names and "information_schema" in names, f"the schemas of {x.uc['catalog']}: {names}")
        hive = [s.name for s in x.w.schemas.list("hive_metastore")]
        need("default" in hive, f"the Hive metastore's schemas: {hive}")
        return names

    @case("GET /api/2.1/unity-catalog/tables")
    def tables(x):
        got = {t.name: t for t in x.w.tables.list(x.uc["catalog"], x.uc["schema"], omit_columns=True)}
        need(len(got) >= 3, f"the tables of {x.uc['catalog']}.{x.uc['schema']} (more than a page): {sorted(got)}")
        need(all(t.full_name == f"{x.uc['catalog']}.{x.uc['schema']}.{t.name}" and not t.columns for t in got.values()), f"names and columns: {list(got.values())}")
        sized = [
            t
            for t in got.values()
            if t.table_type == catalog.TableType.MANAGED
            and t.data_source_format == catalog.DataSourceFormat.DELTA
            and t.storage_location
            and int((t.properties or {}).get("spark.sql.statistics.totalSize", "0")) > 0
        ]
        external = [t for t in got.values() if t.table_type == catalog.TableType.EXTERNAL and t.data_source_format == catalog.DataSourceFormat.PARQUET and t.storage_location]
        views = [t for t in got.values() if t.table_type == catalog.TableType.VIEW and t.view_definition]
        need(sized and external and views, f"a sized managed Delta table, an external Parquet table and a view among {list(got.values())}")
        return sorted(got)
