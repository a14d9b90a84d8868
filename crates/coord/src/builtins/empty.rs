//! The `pg_catalog` relations Eddy has no rows for, because it has none of the objects
//! they describe (and `pg_attrdef`, the columns' defaults, whose rows are in
//! `relations.rs`): dependencies, comments, enums, extensions, foreign and
//! partitioned tables, inheritance, policies, functions, publications, ranges,
//! sequences, extended statistics, triggers, role memberships. Clients read them, so
//! they exist, with Postgres' columns, and stay empty.

use super::{no_rows, table, Builtin, PG_CATALOG};

pub(super) const PG_ATTRDEF: Builtin = table(
    PG_CATALOG,
    "pg_attrdef",
    2604,
    "oid oid!, adrelid oid!, adnum int2!, adbin text!",
    super::relations::pg_attrdef,
);

pub(super) const PG_AUTH_MEMBERS: Builtin = table(
    PG_CATALOG,
    "pg_auth_members",
    1261,
    "roleid oid!, member oid!, grantor oid!, admin_option bool!",
    no_rows,
);

pub(super) const PG_DEPEND: Builtin = table(
    PG_CATALOG,
    "pg_depend",
    2608,
    "classid oid!, objid oid!, objsubid int4!, refclassid oid!, refobjid oid!, \
     refobjsubid int4!, deptype char!",
    no_rows,
);

pub(super) const PG_DESCRIPTION: Builtin = table(
    PG_CATALOG,
    "pg_description",
    2609,
    "objoid oid!, classoid oid!, objsubid int4!, description text!",
    no_rows,
);

pub(super) const PG_ENUM: Builtin = table(
    PG_CATALOG,
    "pg_enum",
    3501,
    "oid oid!, enumtypid oid!, enumsortorder float4!, enumlabel name!",
    no_rows,
);

pub(super) const PG_EXTENSION: Builtin = table(
    PG_CATALOG,
    "pg_extension",
    3079,
    "oid oid!, extname name!, extowner oid!, extnamespace oid!, extrelocatable bool!, \
     extversion text!, extconfig oid[], extcondition text[]",
    no_rows,
);

pub(super) const PG_FOREIGN_TABLE: Builtin = table(
    PG_CATALOG,
    "pg_foreign_table",
    3118,
    "ftrelid oid!, ftserver oid!, ftoptions text[]",
    no_rows,
);

pub(super) const PG_INHERITS: Builtin = table(
    PG_CATALOG,
    "pg_inherits",
    2611,
    "inhrelid oid!, inhparent oid!, inhseqno int4!, inhdetachpending bool!",
    no_rows,
);

pub(super) const PG_PARTITIONED_TABLE: Builtin = table(
    PG_CATALOG,
    "pg_partitioned_table",
    3350,
    "partrelid oid!, partstrat char!, partnatts int2!, partdefid oid!, \
     partattrs int2[]!, partclass oid[]!, partcollation oid[]!, partexprs text",
    no_rows,
);

pub(super) const PG_POLICY: Builtin = table(
    PG_CATALOG,
    "pg_policy",
    3256,
    "oid oid!, polname name!, polrelid oid!, polcmd char!, polpermissive bool!, \
     polroles oid[]!, polqual text, polwithcheck text",
    no_rows,
);

pub(super) const PG_PROC: Builtin = table(
    PG_CATALOG,
    "pg_proc",
    1255,
    "oid oid!, proname name!, pronamespace oid!, proowner oid!, prolang oid!, \
     procost float4!, prorows float4!, provariadic oid!, prosupport regproc!, \
     prokind char!, prosecdef bool!, proleakproof bool!, proisstrict bool!, \
     proretset bool!, provolatile char!, proparallel char!, pronargs int2!, \
     pronargdefaults int2!, prorettype oid!, proargtypes oid[]!, proallargtypes oid[], \
     proargmodes text[], proargnames text[], proargdefaults text, protrftypes oid[], \
     prosrc text!, probin text, prosqlbody text, proconfig text[], proacl text[]",
    no_rows,
);

pub(super) const PG_PUBLICATION: Builtin = table(
    PG_CATALOG,
    "pg_publication",
    6104,
    "oid oid!, pubname name!, pubowner oid!, puballtables bool!, pubinsert bool!, \
     pubupdate bool!, pubdelete bool!, pubtruncate bool!, pubviaroot bool!",
    no_rows,
);

pub(super) const PG_PUBLICATION_NAMESPACE: Builtin = table(
    PG_CATALOG,
    "pg_publication_namespace",
    6237,
    "oid oid!, pnpubid oid!, pnnspid oid!",
    no_rows,
);

pub(super) const PG_PUBLICATION_REL: Builtin = table(
    PG_CATALOG,
    "pg_publication_rel",
    6106,
    "oid oid!, prpubid oid!, prrelid oid!, prqual text, prattrs int2[]",
    no_rows,
);

pub(super) const PG_RANGE: Builtin = table(
    PG_CATALOG,
    "pg_range",
    3541,
    "rngtypid oid!, rngsubtype oid!, rngmultitypid oid!, rngcollation oid!, \
     rngsubopc oid!, rngcanonical regproc!, rngsubdiff regproc!",
    no_rows,
);

pub(super) const PG_SEQUENCE: Builtin = table(
    PG_CATALOG,
    "pg_sequence",
    2224,
    "seqrelid oid!, seqtypid oid!, seqstart int8!, seqincrement int8!, seqmax int8!, \
     seqmin int8!, seqcache int8!, seqcycle bool!",
    no_rows,
);

pub(super) const PG_SHDESCRIPTION: Builtin = table(
    PG_CATALOG,
    "pg_shdescription",
    2396,
    "objoid oid!, classoid oid!, description text!",
    no_rows,
);

pub(super) const PG_STATISTIC_EXT: Builtin = table(
    PG_CATALOG,
    "pg_statistic_ext",
    3381,
    "oid oid!, stxrelid oid!, stxname name!, stxnamespace oid!, stxowner oid!, \
     stxstattarget int4!, stxkeys int2[]!, stxkind text[]!, stxexprs text",
    no_rows,
);

pub(super) const PG_TRIGGER: Builtin = table(
    PG_CATALOG,
    "pg_trigger",
    2620,
    "oid oid!, tgrelid oid!, tgparentid oid!, tgname name!, tgfoid oid!, tgtype int2!, \
     tgenabled char!, tgisinternal bool!, tgconstrrelid oid!, tgconstrindid oid!, \
     tgconstraint oid!, tgdeferrable bool!, tginitdeferred bool!, tgnargs int2!, \
     tgattr int2[]!, tgargs bytea!, tgqual text, tgoldtable name, tgnewtable name",
    no_rows,
);
