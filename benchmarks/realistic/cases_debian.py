"""Case definitions cut from debian-handbook (The Debian Administrator's Handbook, Debian 11), in writing order."""

from benchmarks.realistic.build_django_debian import case

SEC = ("Debian takes security seriously.", "debian-security-announce@lists.debian.org mailing list ( archive ).")
COMPONENTS = ("Debian uses three components to differentiate", "used to require a proprietary Java environment.")
LAST_FIELD = ("The syntax of the last field depends on the structure of the repository.",
              "A typical Debian mirror provides the components main , contrib , and non-free .")
EXPERIMENTAL = ("If you listed Experimental in your sources.list file", "by giving them a priority of 500.")

CASES = [
    case("dh-apt-pinning", path="sect.apt-get.html",
         q="How does APT choose between versions of a package offered by several sources, and how can I override "
           "that?",
         chunks=["One of the most important aspects in the configuration of APT is the management",
                 "A non-installed version has a priority of 500 by default",
                 "In more concrete terms, a package whose priority is < 0",
                 ("Every package source is identified by the information contained in a Release file",
                  "11 for Debian Bullseye )."),
                 EXPERIMENTAL,
                 "Let's suppose that you only want to use packages from the stable version",
                 "apt being such a marvelous tool, it is tempting",
                 "Everything centers around the fact that APT only considers packages"],
         answer=[("APT installs the version with the highest priority, except when that version is older than the "
                  "installed one and its priority is under 1000.", 0, "These priorities will influence APT's"),
                 ("An installed version gets 100 by default and an uninstalled one 500, which rises to 990 for "
                  "packages in the target release chosen with -t or APT::Default-Release.", [0, 1],
                  ["Each installed package version has a priority of 100.", "A non-installed version has a priority"]),
                 ("You override this with entries in /etc/apt/preferences or /etc/apt/preferences.d/ that give "
                  "packages a new priority, and anything above 1000 is installed even if that means a downgrade.",
                  [1, 2], ["You can modify the priorities by adding entries", "In more concrete terms"]),
                 ("Priorities are capped at 2000, and APT silently lowers any higher value to that limit.",
                  None, "invented")]),
    case("dh-security-updates", path="apt.html",
         q="Where do security updates for Debian Stable come from, and how are they announced?",
         chunks=["What makes Debian so popular with administrators",
                 "Each active line in the /etc/apt/sources.list file represents",
                 COMPONENTS,
                 "This file lists all sources of packages associated with the Bullseye version",
                 SEC,
                 "Stable updates are not security sensitive",
                 "Once published, the Stable distribution is only updated about once every 2 months.",
                 "The stable-backports repository hosts"],
         answer=[("They are not served by the ordinary mirror network but by security.debian.org, a few machines run "
                  "by the Debian System Administrators.", 4, "The security updates are not hosted"),
                 ("For serious issues the security team publishes a Debian Security Advisory (DSA) and announces it "
                  "with the fix on the debian-security-announce mailing list.", 4, "For serious issues, the security"),
                 ("The unattended-upgrades package can install these updates automatically.", None, "general")]),
    case("dh-archive-components", path="apt.html",
         q="What is the difference between main, contrib and non-free in Debian?",
         chunks=["What makes Debian so popular with administrators",
                 "Each active line in the /etc/apt/sources.list file represents",
                 LAST_FIELD,
                 COMPONENTS,
                 "This file lists all sources of packages associated with the Bullseye version",
                 SEC,
                 "Stable updates are not security sensitive"],
         answer=[("main contains only packages that fully meet the Debian Free Software Guidelines.", 3,
                  "Main gathers all packages"),
                 ("non-free holds software that is not entirely free but can still be redistributed freely, and it "
                  "is not officially part of Debian.", 3,
                  ["The non-free component is different", "This archive, which is not officially part"]),
                 ("contrib is free software that needs non-free elements to run or to be compiled.", 3,
                  ["Contrib (contributions) is a set of open source", "The contrib component also includes"]),
                 ("Debian 12 later added a separate non-free-firmware component just for firmware.",
                  None, "general")]),
]
