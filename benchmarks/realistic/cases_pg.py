"""Cases cut from postgresql-doc-15 (HTML under /usr/share/doc/postgresql-doc-15/html/), in writing order."""

from build_pg_git import C, G, S, U

RV = "routine-vacuuming.html"

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
      "How does the autovacuum launcher schedule its workers, and when does a table actually get vacuumed?",
      [(RV, [33, 34, 35, 36, 37, 38, 39])],
      [S("One persistent launcher process starts the workers and tries to launch one in each database every "
         "autovacuum_naptime seconds.",
         G(RV, 34, "There is a persistent daemon process", "The launcher will distribute the work")),
       S("At most autovacuum_max_workers workers run at the same time, and they do not count toward the "
         "max_connections limit.",
         G(RV, 34, "A maximum of autovacuum_max_workers"), G(RV, 35, "Note that the number of running workers")),
       S("A table is vacuumed when the number of dead tuples since its last vacuum goes beyond a base "
         "threshold plus a scale factor multiplied by the table's row count.",
         G(RV, 36, "Otherwise, if the number of tuples obsoleted", "The vacuum threshold is defined as")),
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
]
