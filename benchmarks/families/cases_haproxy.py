"""Cases cut from haproxy-doc (the HAProxy 2.6 manuals, /usr/share/doc/haproxy-doc/), in writing order."""

from build_families_a import C, G, S, U, X

CONF = "html/configuration.html"
MGMT = "html/management.html"
INTRO = "html/intro.html"

CASES = [
    C("haproxy-timeouts", "close",
      "What do timeout client and timeout connect control in HAProxy, and what values are sensible?",
      [(CONF, [771, 772, 773, 774, 776, 777])],
      [S("The inactivity timeout applies when the client is expected to acknowledge or send data.",
         G(CONF, 772, "The inactivity timeout applies")),
       S("In TCP mode it is highly recommended that the client timeout remains equal to the server timeout, in "
         "order to avoid complex situations to debug.",
         G(CONF, 772, "In TCP mode (and to a lesser extent")),
       S("timeout connect should cover one or several TCP packet losses, so specify values slightly above "
         "multiples of 3 seconds (e.g. 4 or 5 seconds).",
         G(CONF, 777, "Anyway, it is a good practice")),
       X("An unspecified timeout falls back to 30 seconds.",
         "default", G(CONF, 777, "An unspecified timeout results"), G(CONF, 774, "An unspecified timeout results")),
       U("A client that runs into timeout client is logged with the cD termination flags.", "general")]),

    C("haproxy-balance-leastconn", "hedged",
      "Which balance algorithm should I use for a backend of SQL servers with long sessions, and how does it "
      "compare with roundrobin?",
      [(CONF, [234, 235, 236, 237, 238])],
      [S("According to the manual, static-rr works like roundrobin but is static, so changing a server's weight "
         "on the fly has no effect.",
         G(CONF, 236, "This algorithm is as similar to roundrobin")),
       S("The documentation recommends leastconn where very long sessions are expected, such as LDAP or SQL, "
         "but not for protocols with short sessions such as HTTP.",
         G(CONF, 236, "Use of this algorithm is recommended")),
       S("It also notes that leastconn counts queued connections as well as established ones, to keep "
         "queuing down.",
         G(CONF, 237, "It will also consider the number of queued")),
       X("As documented, roundrobin is limited by design to 1024 active servers per backend.",
         "number", G(CONF, 235, "It is limited by design"))]),

    C("haproxy-health-check-timing", "joined",
      "How quickly will HAProxy mark a failing server down, and which settings control the health check "
      "interval?",
      [(CONF, [893, 894, 897, 898, 899, 921])],
      [S("error-limit only matters when health observing is enabled, and by default it is set to 10 consecutive "
         "errors.",
         G(CONF, 893, "It may also be used as", "By default it is set to 10")),
       S("inter sets the delay between two consecutive health checks and defaults to 2000 ms, while fall marks a "
         "server as dead after that many consecutive failed checks.",
         G(CONF, 898, "Example: defaults # never fail", "If left unspecified, the delay defaults"),
         G(CONF, 893, "See also the \" check \", \" error-limit \"")),
       X("fastinter and downinter let you change the interval depending on the server's state, and a server "
         "without its own fall setting is declared dead after 5 failed checks.",
         "number", G(CONF, 894, "This value defaults to 3")),
       U("rise is the counterpart of fall, and unless it is set, two successful checks in a row bring a server "
         "back into the farm.", "general"),
       X("Health check intervals can only be given in milliseconds, and the checks of all servers are started at "
         "exactly the same moment.",
         "negation", G(CONF, 899, "Just as with every other time-based parameter", "In order to reduce"))]),

    C("haproxy-server-maxconn-queue", "heavy",
      "What happens to requests when a server reaches its maxconn, and can I stop them from waiting forever?",
      [(CONF, [899, 900, 901, 902, 903, 904])],
      [S("Left at zero, its shipped value, the per-server connection cap puts no ceiling on anything.",
         G(CONF, 901, "The default value is \"0\" which means unlimited")),
       S("When HAProxy speaks HTTP, that cap counts simultaneous requests rather than TCP sockets, so a value "
         "of 50 may travel over anywhere between one and fifty real links.",
         G(CONF, 901, "In HTTP mode this parameter limits", "As an example if you specify")),
       S("Once a server's waiting line is full, further requests get handed to other machines instead of "
         "hanging, at the price of losing stickiness.",
         G(CONF, 902, "If this limit is reached", "This will break persistence")),
       X("Out of the box, maxqueue holds up to 100 pending requests per server.",
         "default", G(CONF, 902, "The default value is \"0\" which means the queue")),
       U("Queued requests are always served strictly in arrival order; nothing can move one ahead of another.",
         "invented")]),

    C("haproxy-stick-store-request", "heavy",
      "Can two backends share one stick table, and how many values can a single request save in it?",
      [(CONF, [663, 664, 665, 666, 667, 668])],
      [S("Rules may refer to a table declared in a different backend, and then servers are paired up through "
         "their numeric IDs.",
         G(CONF, 665, "It is possible to share a table", "If another table is referenced")),
       S("Because numbering restarts at 1 in every backend, listing machines in an identical order is usually "
         "enough, though setting each ID by hand is the safer route.",
         G(CONF, 665, "By default, all server IDs start", "But in case of doubt")),
       S("An if or unless clause can restrict when a rule saves anything, and it is evaluated while the request "
         "is being parsed.",
         G(CONF, 666, "It is possible to restrict", "This condition will be evaluated")),
       X("However many such rules exist, at most 16 criteria get saved for one request or response.",
         "number", G(CONF, 666, "There is no limit on the number")),
       U("Saved entries vanish after ten minutes unless the table declares an expire period of its own.",
         "invented")]),

    C("haproxy-runtime-server-state", "list",
      "How do I take a backend server out of rotation at runtime without reloading HAProxy?",
      [(MGMT, [155, 156, 157, 158, 159, 160])],
      [S("Use set server <backend>/<server> state, which forces the server's "
         "administrative state to one of three values:",
         G(MGMT, 157, "Optionally, change the port used for server health checks")),
       S("ready puts the server back in normal mode, like the enable server command.",
         G(MGMT, 158, "Setting the state to \"ready\"")),
       S("maint stops all traffic to the server and its health checks too, like disable server.",
         G(MGMT, 158, "Setting the state to \"maint\"", "This is the equivalent of the \" disable server")),
       X("drain takes the server out of load balancing and stops its health checks, while it still accepts "
         "new persistent connections.",
         "negation", G(MGMT, 158, "Setting the mode to \"drain\"")),
       U("These changes only live in the running process, so a reload forgets them unless a server-state file "
         "is used.", "general")]),

    C("haproxy-acl-flags", "list",
      "What do the flags like -i and -f mean in an HAProxy acl line?",
      [(CONF, [977, 978, 979, 980, 981, 1003])],
      [S("The acl keyword takes flags before its patterns, among them:",
         G(CONF, 980, "The ACL engine can match")),
       S("-i ignores case when matching all of the patterns that follow.",
         G(CONF, 980, "The ACL engine can match")),
       S("-f reads the patterns from a file, one per line, skipping empty lines and lines that start with #.",
         G(CONF, 981, "The \"-f\" flag is followed", "Empty lines as well as")),
       X("-n loads the file given with -f as a map file.",
         "option", G(CONF, 980, "The ACL engine can match")),
       U("-r re-reads the pattern file whenever it changes on disk.", "invented")]),

    C("haproxy-reload-signals", "moderate",
      "What is the difference between stopping and reloading HAProxy, and does a reload drop connections?",
      [(MGMT, [39, 40, 41, 42, 43, 44, 45])],
      [S("A hard stop (SIGTERM) makes haproxy quit immediately and close every established connection, and it "
         "is what the stop and restart actions use.",
         G(MGMT, 39, "The hard stop is simple", "The hard stop method is used")),
       S("A graceful stop (SIGUSR1) only unbinds the listening ports and keeps serving existing connections "
         "until they close, which is what reload relies on.",
         G(MGMT, 39, "The graceful stop is triggered", "It consists in only unbinding", "The graceful stop is used")),
       S("Even so, a reload under heavy load can see a few failed connections, around one per reload for "
         "every 10000 new connections per second.",
         G(MGMT, 43, "It is important to note that during", "Typically observed failure rates")),
       X("On Linux, SO_REUSEPORT closes most of that gap only from kernel 4.6 onwards.",
         "version", G(MGMT, 45, "It was reintroduced in kernel 3.9")),
       U("haproxy -c also checks that every backend server is reachable before the reload goes ahead.",
         "invented")]),

    C("haproxy-branches", "hedged",
      "Is it safe to upgrade HAProxy within the 2.6 branch, and should I run an odd-numbered branch like 2.7 in "
      "production?",
      [(INTRO, [93, 94, 95, 96, 97, 98])],
      [S("According to the starter guide, once a stable branch is issued it only receives bug fixes, and very "
         "rarely minor feature updates.",
         G(INTRO, 94, "Once a stable branch is issued")),
       S("The guide says regressions in a stable branch are extremely rare, so there is never an excuse for not "
         "upgrading to the latest version in your branch.",
         G(INTRO, 94, "This process also ensures")),
       X("It also notes that since 2.0, branches with an odd second digit focus on sensitive technical updates "
         "and are aimed at advanced users.",
         "version", G(INTRO, 95, "Since 1.9, branches")),
       S("Apparently those odd branches are maintained for only about a year and must not be deployed where "
         "they cannot be rolled back in an emergency.",
         G(INTRO, 95, "They are maintained for about a year"))]),

    C("haproxy-what-it-is-not", "close",
      "Can HAProxy replace my Squid forward proxy, or serve static files directly?",
      [(INTRO, [23, 24, 25, 26, 27, 28])],
      [S("HAProxy is not an explicit HTTP proxy, i.e. the proxy that browsers use to reach the internet; there "
         "is excellent open-source software dedicated to this task, such as Squid.",
         G(INTRO, 25, "HAProxy is not : - an explicit", "There are excellent open-source software dedicated")),
       S("However HAProxy can be installed in front of such a proxy to provide load balancing and high "
         "availability.",
         G(INTRO, 25, "However HAProxy can be installed")),
       X("It is not a static web server either: during startup it isolates itself inside a chroot jail, but it "
         "keeps its privileges so that it can still read files.",
         "negation", G(INTRO, 25, "However HAProxy can be installed")),
       S("Nor is it a packet-based load balancer: it will not see IP packets nor UDP datagrams, and will not "
         "perform NAT or DSR.",
         G(INTRO, 26, "There are excellent open-source software for this")),
       U("For a forward proxy, Squid listens on port 3128 by default.", "general")]),
]
