"""Cases cut from apache2-doc (the httpd 2.4 manual, /usr/share/doc/apache2-doc/manual/en/), in writing order."""

from build_families_a import C, G, S, U, X

PROXY = "mod/mod_proxy.html"
CORE = "mod/core.html"
FLAGS = "rewrite/flags.html"
VHOST = "vhosts/name-based.html"
LOGS = "logs.html"
EVENT = "mod/event.html"
HTACCESS = "howto/htaccess.html"
ACCESS = "howto/access.html"
STOP = "stopping.html"

CASES = [
    C("apache-proxypass-order", "close",
      "I have ProxyPass rules for /mirror/foo and an exclusion for /mirror/foo/i, but the excluded path still "
      "gets proxied. In what order does Apache check them?",
      [(PROXY, [39, 40, 41, 42, 43, 75])],
      [S("The configured ProxyPass and ProxyPassMatch rules are checked in the order of configuration, and the "
         "first rule that matches wins.",
         G(PROXY, 42, "Ordering ProxyPass Directives The configured", "The first rule that matches wins.")),
       S("So you should usually sort conflicting ProxyPass rules starting with the longest URLs first.",
         G(PROXY, 42, "So usually you should sort")),
       S("Exclusions must come before the general ProxyPass directives.",
         G(PROXY, 43, "Exclusions and the no-proxy environment variable")),
       X("In 2.4.26 and later you can use the \"no-proxy\" environment variable instead of an exclusion, and "
         "SetEnv is the directive to set it with.",
         "option", G(PROXY, 43, "This variable should be set with SetEnvIf"))]),

    C("apache-keepalive-limits", "joined",
      "How long does Apache keep an idle persistent connection open, and how many requests can a client send "
      "over one connection?",
      [(CORE, [91, 92, 93, 94, 119, 120])],
      [S("KeepAliveTimeout is the number of seconds httpd waits for a further request before it closes the "
         "connection, and it defaults to 5 but also accepts a value in milliseconds when you add the ms suffix.",
         G(CORE, 93, "See also MaxKeepAliveRequests KeepAliveTimeout Directive", "By adding a postfix of ms")),
       S("MaxKeepAliveRequests caps how many requests one connection may carry and allows 100 out of the box, "
         "while for MaxConnectionsPerChild the whole connection counts as a single request.",
         G(CORE, 119, "See also ErrorLog ErrorLogFormat"), G(CORE, 93, "When a client uses a Keep-Alive connection")),
       X("A value of 0 lifts that cap entirely, although the documentation advises against keeping the "
         "setting high if you care about performance.",
         "negation", G(CORE, 120, "We recommend that this setting")),
       U("A long KeepAliveTimeout keeps more server processes tied up with idle clients on a busy server, and "
         "httpd logs a warning at startup whenever the value exceeds 60 seconds.", "invented")]),

    C("apache-rewrite-end-vs-l", "moderate",
      "My .htaccess front-controller rule with [L] seems to loop. Which flags actually stop rewriting there, "
      "and should I use [END]?",
      [(FLAGS, [17, 18, 19, 20, 32, 35])],
      [S("In an .htaccess file, [L] only finishes the current pass, after which the whole ruleset runs again on "
         "the rewritten URL, and that can end in an endless loop.",
         G(FLAGS, 18, "The difference matters in per-directory context", "This can cause infinite loops")),
       S("[END] stops the current round and also every later rewrite pass in per-directory context, which is "
         "why it is the preferred flag for most per-directory rules.",
         G(FLAGS, 18, "END ¶ Using the [END] flag", "This makes it the preferred flag")),
       S("Rules with [F] or [G] behave as if [L] were given too: the response goes out at once and no further "
         "rules are evaluated.",
         G(FLAGS, 20, "When using [F], an [L] is implied", "As with the [F] flag")),
       X("[END] also keeps rewriting from running on the new request that an external redirect triggers.",
         "negation", G(FLAGS, 18, "This can cause infinite loops")),
       U("None of these flags do anything until mod_rewrite is enabled, which on Debian is done with "
         "a2enmod rewrite.", "general")]),

    C("apache-rewrite-query-string", "heavy",
      "My RewriteRule target adds ?page=$1 and the visitor's own query string disappears. How do I keep it, "
      "or drop it on purpose?",
      [(FLAGS, [31, 32, 33, 34, 35, 36])],
      [S("Whenever the substitution carries parameters of its own, mod_rewrite by default throws away whatever "
         "the client had sent after the question mark.",
         G(FLAGS, 32, "QSA|qsappend ¶ When the replacement URL")),
       S("Adding [QSA] merges both, so the visitor's parameters survive next to the new ones.",
         G(FLAGS, 32, "Using the [QSA] flag causes")),
       S("[QSD] works the other way round and strips the incoming parameters; given together with [QSA], it "
         "is [QSD] that wins.",
         G(FLAGS, 33, "Using the [QSD] flag causes", "Using [QSD] and [QSA] together")),
       X("[QSD] first shipped with httpd 2.4.19.",
         "version", G(FLAGS, 33, "This flag is available in version 2.4.0"))]),

    C("apache-name-based-vhosts", "heavy",
      "Several domains point at one IP address. How does Apache decide which VirtualHost answers a request?",
      [(VHOST, [1, 2, 3, 4, 5, 7])],
      [S("Apache first narrows the candidates by address and port, taking the most specific match among the "
         "<VirtualHost> arguments for the connection.",
         G(VHOST, 2, "When a request arrives, the server will find")),
       S("Only when several hosts share that best address does it look at the requested hostname, comparing it "
         "against each ServerName and ServerAlias.",
         G(VHOST, 3, "If there is more than one virtual host")),
       S("When none of those names fits, the host listed first for that address and port handles the request.",
         G(VHOST, 3, "The default name-based vhost for an IP")),
       X("Leaving ServerName out makes Apache fall back to the IP address of the network interface as the "
         "host's name.",
         "entity", G(VHOST, 3, "If you omit the ServerName directive")),
       U("Each name-based host also has to be declared with a NameVirtualHost line for its port.", "invented")]),

    C("apache-log-rotation", "list",
      "What are my options for rotating Apache's access and error logs without losing entries?",
      [(LOGS, [20, 21, 22, 23, 24, 25])],
      [S("You can rotate httpd's logs in two main ways:",
         G(LOGS, 21, "Using rotatelogs (recommended)", "Using logrotate or system log management")),
       S("rotatelogs, fed through a piped log, rotates by time or size with no server restart, e.g. every "
         "86400 seconds or at 100M.",
         G(LOGS, 21, "This rotates logs without requiring", "To rotate logs every 24 hours")),
       S("logrotate moves the old files aside, but httpd then has to be told to reopen its logs, usually with "
         "apache2ctl graceful in the postrotate script.",
         G(LOGS, 22, "When using an external rotation tool", "The standard approach is a graceful restart")),
       X("Piped log programs start with the parent's user id, which means they normally run as www-data.",
         "entity", G(LOGS, 23, "This typically means they run as root")),
       U("rotatelogs also compresses the rotated file with gzip unless you pass -n.", "invented")]),

    C("apache-event-keepalive", "hedged",
      "Why is the event MPM better than worker at handling keep-alive connections?",
      [(EVENT, [2, 3, 4, 5, 6, 7])],
      [S("According to the documentation, keep-alive handling is the most basic improvement the event MPM "
         "makes over the worker MPM.",
         G(EVENT, 4, "Keep-alive Keep Alive handling")),
       S("As described there, once a worker thread has flushed the response it hands the socket to the "
         "listener thread, which waits for the next event from the operating system.",
         G(EVENT, 4, "Once a worker thread finishes")),
       S("It also says that when the KeepAliveTimeout expires, it is the listener that closes the socket, so worker "
         "threads are not held by idle connections and can serve other requests.",
         G(EVENT, 5, "Conversely, if the KeepAliveTimeout occurs", "In this way, the worker threads")),
       X("The manual also notes that lingering closes are handled by the listener thread rather than being "
         "offloaded to a worker.",
         "entity", G(EVENT, 5, "The lingering close is time-bounded")),
       S("It further explains that when a new request arrives on such a connection, the listener forwards it to "
         "the first worker thread available.",
         G(EVENT, 4, "If any new request comes from the client"))]),

    C("apache-htaccess-cost", "moderate",
      "Is there a downside to leaving AllowOverride on so that users can use .htaccess files?",
      [(HTACCESS, [3, 4, 5, 6, 7])],
      [S("With .htaccess allowed, httpd checks every directory for such a file and reads it again on every "
         "request, so you pay for it even when no .htaccess exists.",
         G(HTACCESS, 4, "Performance: When AllowOverride is set", "Thus, permitting .htaccess files causes",
           "Also, the .htaccess file is loaded")),
       S("It also has to check all the parent directories, so a file under /www/htdocs/example costs four extra "
         "file-system lookups.",
         G(HTACCESS, 4, "Additionally, httpd must look for .htaccess files", "Thus, if a file is requested")),
       S("With AllowOverrideList you name the individual directives that are allowed, and any directive not on "
         "the list causes a server error in an .htaccess file.",
         G(HTACCESS, 6, "This lets you name individual directives")),
       X("AllowOverride All is what you set to turn .htaccess processing off completely.",
         "option", G(HTACCESS, 6, "Placing a directive in a .htaccess file")),
       U("Because .htaccess files are read at request time, mistakes in them only show up when a matching URL "
         "is requested, not when apache2ctl configtest runs.", "general")]),

    C("apache-access-control", "list",
      "How do I restrict part of my site to certain client addresses, or block a bot by its User-Agent?",
      [(ACCESS, [1, 2, 3, 4, 5, 6])],
      [S("Require ip accepts several forms of address, and both IPv4 and IPv6 work:",
         G(ACCESS, 2, "In the second form, ip.address", "Either IPv4 or IPv6")),
       X("A partial address such as 172.20 matches any host in the 172.20.0.0/24 range.",
         "number", G(ACCESS, 2, "Examples of IP address formats")),
       X("A not requirement can deny a request on its own, with no other Require in the block.",
         "negation", G(ACCESS, 2, "Since a not is a negation")),
       S("An <If> block on a request header such as User-Agent can deny access too, though that header can be "
         "set to anything by the client.",
         G(ACCESS, 4, "For example, to deny access based on user-agent")),
       U("Require ip also accepts ranges written as 10.0.0.1-10.0.0.50.", "invented")]),

    C("apache-graceful-stop", "close",
      "What is the difference between apache2ctl graceful, restart and graceful-stop?",
      [(STOP, [2, 3, 5, 6, 7, 8])],
      [S("The USR1 or graceful signal causes the parent process to advise the children to exit after their "
         "current request, and the parent re-reads its configuration files and re-opens its log files.",
         G(STOP, 3, "Graceful Restart ¶ Signal: USR1", "The parent re-reads its configuration")),
       S("On restart the parent re-reads its configuration files, re-opens any log files and then spawns a new "
         "set of children.",
         G(STOP, 7, "It re-reads its configuration files", "Then it spawns a new set")),
       X("Users of mod_status will notice that the server statistics are not set to zero when a HUP is sent.",
         "negation", G(STOP, 7, "Users of mod_status will notice")),
       S("The WINCH or graceful-stop signal causes the parent process to advise the children to exit after their "
         "current request.",
         G(STOP, 7, "Graceful Stop ¶ Signal: WINCH")),
       U("With systemd, systemctl reload apache2 performs the same graceful restart.", "general")]),
]
