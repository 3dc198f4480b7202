"""Case definitions cut from debian-handbook (The Debian Administrator's Handbook, Debian 11), in writing order."""

from benchmarks.realistic.build_django_debian import case

SEC = ("Debian takes security seriously.", "debian-security-announce@lists.debian.org mailing list ( archive ).")
COMPONENTS = ("Debian uses three components to differentiate", "used to require a proprietary Java environment.")
LAST_FIELD = ("The syntax of the last field depends on the structure of the repository.",
              "A typical Debian mirror provides the components main , contrib , and non-free .")
EXPERIMENTAL = ("If you listed Experimental in your sources.list file", "by giving them a priority of 500.")

R1 = ("sect.regular-upgrades.html", "The Debian distribution is dynamic and changes continually.")
R2 = ("sect.regular-upgrades.html", "Fortunately, like many repetitive tasks, it can be partly automated",
      "makes the job faster.")
R3 = ("sect.regular-upgrades.html", "Administrators in charge of several computers will no doubt appreciate",
      "apticron users won't need it.")
R4 = ("sect.regular-upgrades.html", "APT::Periodic::AutocleanInterval This option covers",
      "dpkg-reconfigure -plow unattended-upgrades .")
R5 = ("sect.regular-upgrades.html", "If apt-listbugs is installed, it will prevent")
A0 = ("sect.automatic-upgrades.html", "Since Falcot Corp has many computers but only limited manpower",
      "all its questions to be “yes”.")
A1 = ("sect.automatic-upgrades.html", "The case of debconf deserves more details.",
      "as documented in the debconf (7) manual page).")
A2 = ("sect.automatic-upgrades.html", "The last source of interactions, and the hardest to get rid of",
      "which can handle automatic upgrades.")
A3 = ("sect.automatic-upgrades.html", "Falcot computers are a heterogeneous system")

CASES = [
    case("dh-apt-pinning", path="sect.apt-get.html",
         q="How does APT choose between versions of a package offered by several sources, and how can I override "
           "that?",
         chunks=[("One of the most important aspects in the configuration of APT is the management",
                  "Each installed package version has a priority of 100."),
                 "A non-installed version has a priority of 500 by default",
                 "In more concrete terms, a package whose priority is < 0",
                 ("Every package source is identified by the information contained in a Release file",
                  "11 for Debian Bullseye )."),
                 EXPERIMENTAL,
                 "Let's suppose that you only want to use packages from the stable version",
                 "apt being such a marvelous tool, it is tempting"],
         answer=[("APT installs the version with the highest priority, except when that version is older than the "
                  "installed one and its priority is under 1000.", 0, "These priorities will influence APT's"),
                 ("An installed version gets 100 by default and an uninstalled one 500, which rises to 990 for "
                  "packages in the target release chosen with -t or APT::Default-Release.", [0, 1],
                  ["Each installed package version has a priority of 100.", "A non-installed version has a priority"]),
                 ("You override these values with entries in /etc/apt/preferences or /etc/apt/preferences.d/, and a "
                  "version given a negative priority is never installed at all.",
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
    case("dh-unattended-upgrades",
         q="How can I have a Debian server install security updates automatically?",
         chunks=[R1, R2, R3, R4, R5, A1, A2, A3],
         answer=[("Turn on APT::Periodic::Unattended-Upgrade, and the daily APT job will run unattended-upgrade from "
                  "the unattended-upgrades package.", 3, "APT::Periodic::Unattended-Upgrade When this option"),
                 ("By default that tool only applies security updates, which you can change in "
                  "/etc/apt/apt.conf.d/50unattended-upgrades, and dpkg-reconfigure -plow unattended-upgrades sets "
                  "the option for you through debconf.", 3,
                  ["APT::Periodic::Unattended-Upgrade When this option", "Note that this option can be set"]),
                 ("These APT::Periodic variables go in /etc/apt/apt.conf.d/10periodic and are read by a job that "
                  "runs once a day, and if apt-listbugs is installed it holds back packages with known serious or "
                  "grave bugs.", [2, 4],
                  [["This script is run daily", "To control the behavior, use APT configuration"],
                   "If apt-listbugs is installed"]),
                 ("The upgrades run at 03:00 by default, a time you can change with APT::Periodic::Upgrade-Time.",
                  None, "invented")]),
    case("dh-noninteractive-upgrade",
         q="How can I run package upgrades on Debian without any interactive prompts?",
         chunks=[A0, A1, A2, A3, R2, R4, R5],
         answer=[("Give APT the -y option (--assume-yes) so that it answers yes to all of its own questions.", 0,
                  "The case of APT is simple"),
                 ("For debconf, selecting the noninteractive frontend, for instance through the DEBIAN_FRONTEND "
                  "variable, turns off all questions, and informative notes are mailed to the administrator instead.",
                  1, ["If you choose noninteractive", "If a package tries to display", "Note that the configured"]),
                 ("dpkg's configuration file questions are avoided with --force-confdef --force-confold, and package "
                  "scripts are usually fed /dev/null or endless newlines so that they fall back to default "
                  "answers.", [0, 2], ["As we have already mentioned", ["The common approach is to suppress",
                                                                       "None of these methods is 100 % reliable"]]),
                 ("Put together, this is fully reliable, because every package script is required to accept empty "
                  "input.", None, "contradiction")]),
]
