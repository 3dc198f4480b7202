"""Cases cut from postgresql-doc-15 (HTML under /usr/share/doc/postgresql-doc-15/html/), in writing order."""

from build_pg_git import C, G, S, U

RV = "routine-vacuuming.html"
TI = "transaction-iso.html"
EL = "explicit-locking.html"
IT = "indexes-types.html"
MC = "indexes-multicolumn.html"
IOS = "indexes-index-only-scans.html"
WC = "wal-configuration.html"
WAC = "wal-async-commit.html"
CA = "continuous-archiving.html"
WS = "warm-standby.html"
JS = "datatype-json.html"
RS = "ddl-rowsecurity.html"
PO = "populate.html"
BD = "backup-dump.html"
CI = "sql-createindex.html"
DP = "ddl-partitioning.html"
UE = "using-explain.html"
HBA = "auth-pg-hba-conf.html"

CASES = [
    C("pg-vacuum-full",
      "What is the difference between plain VACUUM and VACUUM FULL, and should I run VACUUM FULL regularly?",
      [(RV, [1, 2, 3, 4, 5, 6, 7, 8])],
      [S("A plain VACUUM can run while the table is being read and written, whereas VACUUM FULL takes an "
         "ACCESS EXCLUSIVE lock, so nothing else can use the table until it is done.",
         G(RV, 2, "Also, the standard form of VACUUM can run", "VACUUM FULL requires an ACCESS EXCLUSIVE")),
       S("The regular form only marks the space of dead rows as reusable and mostly keeps it inside the table "
         "file, while VACUUM FULL writes a fresh, compact copy of the table.",
         G(RV, 4, "The standard form of VACUUM removes", "However, it will not return the space",
           "In contrast, VACUUM FULL actively compacts")),
       U("When a table has become badly bloated, the autovacuum daemon switches to VACUUM FULL on its own.",
         "contradiction")]),

    C("pg-xid-wraparound",
      "Why does PostgreSQL need to freeze old rows, and how often does every table have to be vacuumed?",
      [(RV, [14, 15, 16, 17, 18, 19, 20, 21])],
      [S("Transaction IDs are only 32 bits wide, so after about four billion transactions the counter would "
         "wrap around and past transactions would suddenly look as if they were in the future.",
         G(RV, 15, "But since transaction IDs have limited size")),
       S("To prevent that, every table in every database must be vacuumed at least once per two billion "
         "transactions, and the rows it freezes are then treated as older than any normal transaction, no "
         "matter how the counter wraps.",
         G(RV, 15, "To avoid this, it is necessary to vacuum"), G(RV, 17, "Frozen row versions are treated")),
       S("Since version 9.4, freezing just sets a flag bit on the row and keeps its original xmin.",
         G(RV, 17, "Note In PostgreSQL versions before 9.4", "Newer versions just set a flag bit")),
       U("By default, vacuum_freeze_min_age is set to 100 million transactions.", "invented")]),

    C("pg-autovacuum-workers",
      "How does the autovacuum launcher schedule its workers, and how many can run at once?",
      [(RV, [33, 34, 35, 36, 37, 38, 39])],
      [S("One persistent launcher process starts the workers and tries to launch one in each database every "
         "autovacuum_naptime seconds.",
         G(RV, 34, "There is a persistent daemon process", "The launcher will distribute the work")),
       S("At most autovacuum_max_workers workers run at the same time, and they do not count toward the "
         "max_connections limit.",
         G(RV, 34, "A maximum of autovacuum_max_workers"), G(RV, 35, "Note that the number of running workers")),
       U("You can see which autovacuum workers are running at the moment by querying the pg_stat_activity "
         "view.", "general")]),

    C("pg-analyze-partitioned-foreign",
      "Will autovacuum keep planner statistics current for my foreign and partitioned tables, or do I have to "
      "run ANALYZE myself?",
      [(RV, [8, 9, 10, 11, 12, 13])],
      [S("Autovacuum never analyzes foreign tables because it has no way of telling how often that would "
         "help, so you should schedule ANALYZE on them yourself.",
         G(RV, 12, "Tip The autovacuum daemon does not issue ANALYZE commands for foreign",
           "If your queries require statistics on foreign")),
       S("Partitioned tables are skipped as well, which means you need to run ANALYZE on them periodically by "
         "hand.",
         G(RV, 13, "Tip The autovacuum daemon does not issue ANALYZE commands for partitioned",
           "If your queries require statistics on parent")),
       U("ANALYZE reads every row of a table to compute exact statistics, so it can take a long time on large "
         "tables.", "contradiction")]),

    C("pg-read-committed-vs-repeatable-read",
      "What does a query see under Read Committed compared with Repeatable Read in PostgreSQL?",
      [(TI, [2, 3, 4, 11, 12, 13, 14, 15])],
      [S("Read Committed is the level PostgreSQL uses unless you ask for another one, and under it each "
         "statement works from a snapshot taken at the moment that statement starts.",
         G(TI, 4, "13.2.1. Read Committed Isolation Level Read Committed is the default",
           "In effect, a SELECT query sees a snapshot")),
       S("Repeatable Read instead takes one snapshot at the first ordinary statement of the transaction, so "
         "every later SELECT in it returns the same data.",
         G(TI, 12, "This level is different from Read Committed", "Thus, successive SELECT commands")),
       U("Read Committed is also the default isolation level in Oracle and in Microsoft SQL Server.", "general")]),

    C("pg-serializable-predicate-locks",
      "How does the Serializable isolation level keep track of conflicts, and does that add blocking?",
      [(TI, [16, 17, 18, 19, 20, 21, 22, 23])],
      [S("It relies on predicate locks, which never block anyone and therefore cannot lead to deadlocks.",
         G(TI, 19, "To guarantee true serializability"), G(TI, 20, "In PostgreSQL these locks do not cause")),
       S("These locks serve to flag dependencies between concurrent serializable transactions that could add "
         "up to a serialization anomaly, and you can see them in pg_locks with the mode SIReadLock.",
         G(TI, 20, "They are used to identify and flag", "These will show up in the pg_locks")),
       U("Serialization failures are reported with the SQLSTATE code 40P01.", "contradiction")]),

    C("pg-advisory-locks",
      "What are advisory locks, and how do session-level and transaction-level advisory locks differ?",
      [(EL, [14, 15, 16, 17, 18, 19, 20])],
      [S("Advisory locks are locks whose meaning your application defines; the database does not enforce "
         "them, so correct use is entirely up to your code.",
         G(EL, 17, "13.3.5. Advisory Locks PostgreSQL provides a means", "These are called advisory locks")),
       S("A lock taken at session level stays held until you release it or the session ends, and it even "
         "survives a rollback of the transaction that acquired it.",
         G(EL, 18, "Once acquired at session level", "Unlike standard lock requests")),
       S("Transaction-level advisory locks are released automatically when the transaction finishes and have "
         "no explicit unlock call.",
         G(EL, 18, "Transaction-level lock requests")),
       U("Advisory lock keys are text strings of at most 64 characters.", "invented")]),

    C("pg-deadlocks",
      "How does PostgreSQL deal with deadlocks, and can they happen without explicit LOCK commands?",
      [(EL, [12, 13, 14, 15, 16, 17, 18])],
      [S("The server detects deadlocks by itself and resolves them by aborting one of the transactions "
         "involved, and which one gets aborted is hard to predict.",
         G(EL, 13, "PostgreSQL automatically detects deadlock"), G(EL, 14, "(Exactly which transaction")),
       S("They are not limited to explicit LOCK commands, since the row-level locks taken by ordinary UPDATEs "
         "can deadlock as well.",
         G(EL, 14, "Note that deadlocks can also occur")),
       U("By default the server waits one second on a lock before it checks for a deadlock, a delay controlled "
         "by deadlock_timeout.", "general")]),

    C("pg-gin-brin-index-choice",
      "When is a BRIN index a good choice, and how does it compare with a hash index for range queries?",
      [(IT, [1, 2, 3, 4, 5, 6]), (MC, [1, 3])],
      [S("BRIN only stores a summary for each range of physically adjacent blocks, so it works best when a "
         "column's values follow the physical order of the rows.",
         G(IT, 6, "11.2.6. BRIN BRIN indexes", "Thus, they are most effective")),
       S("For sortable types each range keeps its minimum and maximum, and a multicolumn BRIN index is equally "
         "effective no matter which of its columns a query filters on.",
         G(IT, 6, "For data types that have a linear sort order"), G(MC, 3, "Like GIN and unlike B-tree")),
       U("A hash index, by comparison, can also serve range conditions such as < and >.", "contradiction")]),

    C("pg-index-only-scans",
      "When can PostgreSQL answer a query with an index-only scan?",
      [(IOS, [1, 2, 3, 4, 5, 6, 7]), (RV, [13])],
      [S("The index type has to support it, which B-tree always does, and the query may only reference "
         "columns that are stored in the index.",
         G(IOS, 1, "There are two fundamental restrictions", "B-tree indexes always"),
         G(IOS, 2, "The query must reference only")),
       S("GIN indexes cannot be used for this, because each of their entries usually holds only part of the "
         "original value.",
         G(IOS, 2, "As a counterexample, GIN indexes")),
       U("The planner only considers an index-only scan for tables of at least 1,000 pages.", "invented")]),

    C("pg-checkpoint-timing",
      "How often does PostgreSQL run checkpoints, and what is the trade-off in making them more frequent?",
      [(WC, [1, 2, 3, 4, 5, 6, 7])],
      [S("The checkpointer begins a checkpoint every checkpoint_timeout seconds or when max_wal_size is about "
         "to be exceeded, whichever comes first, and those default to 5 minutes and 1 GB.",
         G(WC, 1, "A checkpoint is begun every"), G(WC, 2, "The default settings are 5 minutes")),
       U("Even when no WAL has been written since the previous checkpoint, a new one still starts each time "
         "checkpoint_timeout elapses.", "contradiction"),
       S("Checkpointing more often shortens recovery after a crash, but the server then has to flush dirty "
         "pages more often.",
         G(WC, 2, "Reducing checkpoint_timeout", "This allows faster after-crash recovery", "However, one must balance"))]),

    C("pg-async-commit-vs-fsync",
      "Is asynchronous commit safe to use, and what could I lose with it?",
      [(WAC, [1, 2, 3, 4, 5]), (WC, [11, 12, 13])],
      [S("With asynchronous commit the server confirms a commit before its WAL is on disk, so a crash can cost "
         "you the last few transactions.",
         G(WAC, 1, "Selecting asynchronous commit mode means"), G(WAC, 2, "The net effect is therefore loss")),
       S("It does not corrupt the database, though, because recovery replays WAL in commit order up to the "
         "last record that was flushed.",
         G(WAC, 2, "The risk that is taken by using", "If the database should crash", "Because the transactions are replayed")),
       U("The WAL writer flushes unwritten WAL every 500 milliseconds by default, which bounds how much can be "
         "lost.", "invented")]),

    C("pg-archive-command",
      "How do I turn on WAL archiving, and what does my archive_command have to do?",
      [(CA, [6, 7, 8, 9, 10, 11, 12, 13])],
      [S("Archiving is enabled by setting wal_level to replica or higher and archive_mode to on, and by "
         "supplying either an archive_command or an archive_library.",
         G(CA, 6, "To enable WAL archiving")),
       S("Inside the command, %p stands for the path of the WAL file and %f for just its file name.",
         G(CA, 6, "In archive_command , %p is replaced")),
       S("The command must return zero only when it truly succeeded, since PostgreSQL then treats the segment "
         "as archived and may remove or recycle it.",
         G(CA, 8, "It is important that the archive command return zero", "Upon getting a zero result")),
       U("Backup tools such as pgBackRest or Barman can manage WAL archiving for you instead of a hand-written "
         "command.", "general")]),

    C("pg-point-in-time-recovery",
      "How do I restore a PostgreSQL cluster to the moment just before someone dropped a table?",
      [(CA, [33, 34, 35, 36, 37, 38, 39, 40])],
      [S("To stop before the mistake, you specify a recovery target, which can be a timestamp, a named restore "
         "point or a transaction ID.",
         G(CA, 36, "If you want to recover to some previous point", "You can specify the stop point")),
       S("In practice a timestamp or a restore point is the workable choice, and the target has to be later "
         "than the end of the base backup you restored.",
         G(CA, 36, "As of this writing only the date/time"), G(CA, 37, "Note The stop point must be after")),
       U("Recovery target times must be written in UTC, since time zones are not accepted there.", "invented")]),

    C("pg-replication-slots",
      "Why would I use a replication slot for a streaming standby instead of wal_keep_size?",
      [(WS, [12, 13, 14, 16, 17, 18, 19])],
      [S("A slot makes the primary hold WAL until all standbys have received it while keeping only the "
         "segments actually needed, whereas wal_keep_size or an archive tend to keep more than necessary.",
         G(WS, 17, "27.2.6. Replication Slots Replication slots provide", "However, these methods often result")),
       S("The catch is that a slot can retain enough WAL to fill pg_wal, which max_slot_wal_keep_size lets you "
         "limit.",
         G(WS, 18, "On the other hand, replication slots can retain")),
       U("Replication slots first appeared in PostgreSQL 9.4.", "general")]),

    C("pg-synchronous-replication",
      "How do I make streaming replication synchronous, and what does remote_write change?",
      [(WS, [21, 22, 23, 24, 26, 27, 28, 29])],
      [S("Once streaming works, the only extra step is to set synchronous_standby_names to a non-empty value, "
         "since synchronous_commit is already on by default.",
         G(WS, 24, "27.2.8.1. Basic Configuration")),
       S("With synchronous_commit set to remote_write, a commit waits only until the standby has passed the "
         "record to its operating system, not until it is flushed to disk there.",
         G(WS, 26, "Setting synchronous_commit to remote_write")),
       U("In that mode a crash of PostgreSQL on the standby can lose the data, but an operating system crash "
         "cannot.", "contradiction")]),

    C("pg-json-vs-jsonb",
      "Should I store JSON documents as json or jsonb in PostgreSQL, and what is the practical difference?",
      [(JS, [1, 2, 3, 4, 5, 8, 9])],
      [S("json keeps an exact copy of the input text that has to be parsed again every time it is processed, "
         "while jsonb stores a decomposed binary form that is a little slower to write but much faster to work "
         "with, and it can be indexed.",
         G(JS, 1, "The json data type stores an exact copy")),
       S("jsonb also throws away insignificant whitespace, does not keep the order of object keys, and keeps "
         "only the last value when a key appears twice.",
         G(JS, 2, "By contrast, jsonb does not preserve", "If duplicate keys are specified")),
       S("Most applications should therefore choose jsonb, unless they rely on something like the original key "
         "order.",
         G(JS, 2, "In general, most applications should prefer")),
       U("Keep in mind that a single jsonb value cannot be larger than 1 MB.", "invented")]),

    C("pg-row-level-security",
      "If I enable row-level security on a table but create no policies, what can users see, and who is exempt?",
      [(RS, [1, 2, 3, 4, 5, 9])],
      [S("With row security enabled and no policy defined, a default-deny rule applies, so ordinary users can "
         "neither see nor change any rows.",
         G(RS, 1, "If no policy exists for the table")),
       S("Superusers and roles with the BYPASSRLS attribute always skip the policies.",
         G(RS, 2, "Superusers and roles with the BYPASSRLS")),
       S("Commands that act on the table as a whole, such as TRUNCATE, are not subject to row security at all.",
         G(RS, 1, "Operations that apply to the whole table")),
       U("Row-level security is a common way to isolate tenants in multi-tenant applications that keep all "
         "customers' data in shared tables.", "general")]),

    C("pg-bulk-loading",
      "What is the fastest way to bulk-load millions of rows into a new PostgreSQL table?",
      [(PO, [1, 2, 3, 4, 5, 6, 7, 8])],
      [S("The quickest route is to load the rows with a single COPY command and to create the table's indexes "
         "only after the data is in.",
         G(PO, 1, "14.4.2. Use COPY"), G(PO, 3, "14.4.3. Remove Indexes")),
       S("COPY is less flexible than INSERT but is built for large loads and has far less overhead.",
         G(PO, 1, "The COPY command is optimized")),
       S("Building an index over rows that are already loaded is faster than updating it row by row.",
         G(PO, 3, "Creating an index on pre-existing data")),
       U("There is no need to run ANALYZE afterwards, because COPY refreshes the planner statistics on its own.",
         "contradiction")]),

    C("pg-dump-restore",
      "How do I back up one database with pg_dump and restore it elsewhere, and are roles included?",
      [(BD, [1, 2, 3, 4, 5, 6, 7, 8])],
      [S("pg_dump produces a consistent snapshot of the database as of the moment it started, and it does not "
         "block other sessions except for operations that need an exclusive lock.",
         G(BD, 3, "Dumps created by pg_dump are internally", "(Exceptions are those")),
       S("A plain-text dump is restored by running it through psql, but you must first create the target "
         "database yourself from template0.",
         G(BD, 3, "The general command form to restore", "The database dbname will not be created")),
       S("Roles and tablespaces are not in the dump because they are cluster-wide, and pg_dumpall is the tool "
         "that saves them along with every database.",
         G(BD, 7, "26.1.2. Using pg_dumpall pg_dump dumps only", "To support convenient dumping")),
       U("The -Fc option writes a compressed custom-format archive from which pg_restore can restore individual "
         "tables.", "general")]),

    C("pg-create-index-concurrently",
      "How can I add an index to a busy production table without blocking writes, and what does it cost?",
      [(CI, [4, 16, 17, 18, 19, 20, 21])],
      [S("CREATE INDEX CONCURRENTLY builds the index without locks that would block inserts, updates or deletes, "
         "whereas a regular build keeps writers out until it is finished.",
         G(CI, 4, "CONCURRENTLY When this option is used")),
       S("In exchange it scans the table twice and waits for existing transactions, so it does more work and "
         "takes noticeably longer.",
         G(CI, 16, "When this option is used, PostgreSQL must perform", "Thus this method requires more")),
       U("Adding WITH (concurrent_workers = 4) lets both table scans run in parallel.", "invented")]),

    C("pg-declarative-partitioning",
      "How does declarative partitioning store rows, and how do I remove old data quickly?",
      [(DP, [1, 2, 3, 4, 5, 10, 11, 12])],
      [S("The partitioned table has no storage of its own; every inserted row is routed to the partition that "
         "matches its key.",
         G(DP, 4, "The partitioned table itself is", "All rows inserted into a partitioned table")),
       U("A partitioned table can have at most 1024 partitions.", "invented"),
       S("Old data can be removed almost instantly by dropping its partition, though DROP TABLE takes an ACCESS "
         "EXCLUSIVE lock on the parent table.",
         G(DP, 12, "The simplest option for removing", "Note however that the above command"))]),

    C("pg-explain-costs",
      "How should I read the cost numbers that EXPLAIN prints for each plan node?",
      [(UE, [1, 2, 3, 4, 5, 6, 7, 8])],
      [S("A node's estimated total cost assumes that the node is run to completion, meaning that all of its "
         "rows are retrieved.",
         G(UE, 4, "Estimated total cost", "This is stated on the assumption")),
       S("The units are arbitrary, conventionally scaled so that a sequential page fetch costs 1.0, and the cost "
         "of an upper node includes everything its child nodes cost.",
         G(UE, 4, "The costs are measured in arbitrary units", "Traditional practice is to measure"),
         G(UE, 5, "It's important to understand that the cost")),
       S("Time spent sending the result rows to the client is not included in these estimates.",
         G(UE, 5, "In particular, the cost does not consider")),
       U("The rows figure is the number of rows the node scans, counted before any WHERE filter is applied.",
         "contradiction")]),

    C("pg-hba-matching",
      "How does PostgreSQL choose which pg_hba.conf line applies to a connection?",
      [(HBA, [1, 2, 3, 4, 5, 6, 7, 8])],
      [S("The server uses the first line whose connection type, client address, database and user all match, "
         "and if authentication fails on that line, the lines after it are not tried.",
         G(HBA, 1, "The first record with a matching", "There is no “ fall-through ”")),
       S("A connection that matches no line at all is rejected.",
         G(HBA, 2, "If no record matches, access is denied.")),
       U("Changes to pg_hba.conf only take effect after you reload the server, for example with SELECT "
         "pg_reload_conf().", "general")]),
]
