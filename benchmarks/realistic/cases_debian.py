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

CRON = "sect.task-scheduling-cron-atd.html"
C1 = (CRON, "cron is the daemon responsible for executing scheduled and recurring commands")
C2 = (CRON, "You can restrict access to crontab by creating an explicit authorization file",
      "specify the user identity to use when executing the command.")
C3 = (CRON, "The cron package includes by default some scheduled commands")
C4 = (CRON, "In Debian, cron takes the time change", "the two problematic nights per year.")
C5 = (CRON, "Each significant line of a crontab entry describes")
C6 = (CRON, "Each value can also be expressed in the form of a list", "of an entry in the crontab .")
C7 = (CRON, "The at executes a command at a specified moment in the future.")
C8 = (CRON, "An alternative syntax postpones the execution", "the current list of scheduled tasks.")

DPKG = "sect.manipulating-packages-with-dpkg.html"
D1 = (DPKG, "dpkg is the base command for handling Debian packages on the system.")
D2 = (DPKG, "Sometimes dpkg will fail to install a package and return an error",
      "ignore this error and overwrite the file.")
D3 = (DPKG, "While there are many available --force-* options, only --force-overwrite",
      "removing a problematic package).")
D4 = (DPKG, "A courageous administrator who is certain of the correctness", "“Stable Backports” ).")
D5 = (DPKG, "Invoking dpkg with the -r or --remove option", "followed by the package name.")
D6 = (DPKG, "Most options are available in a “long” version")

BK = "sect.backup.html"
B1 = (BK, "Making backups is one of the main responsibilities")
B2 = (BK, "Backups on tape having been deemed too slow", "cannot be differentiated from the linked file.")
B3 = (BK, "Creating a hard link is essentially the same as giving", "symbolic links are not subject to this limitation.")
B4 = (BK, "The available hard drive space prohibits", "(these sets are called “vaults” in the dirvish documentation).")
B5 = (BK, "The main configuration is in the /etc/dirvish/master.conf file.",
      "in case the backup is not triggered at precisely the assigned time.")
B6 = (BK, "You have to indicate a time just before the actual execution time",
      "deletes those for which the expiration date has passed.")
B7 = (BK, "Once these configuration files are setup")
B8 = (BK, "The Falcot Corp administrators are aware of the limits")

FW = "sect.firewall-packet-filtering.html"
F1 = (FW, "A firewall is a piece of computer equipment with hardware")
F2 = (FW, "The Linux kernel embeds the netfilter firewall", "can be adjusted using update-alternatives .")
F3 = (FW, "Although (destined to) being replaced by nftables, iptables is still widely used",
      "which are then saved and loaded automatically.")
F5 = (FW, "As the kernel is processing a network packet, it pauses")
F6 = (FW, "The firewall is configured with tables , which hold rules contained in chains .")
F7 = (FW, "ICMP ( Internet Control Message Protocol ) is the protocol used")
F8 = (FW, "The tools iptables-nft , ip6tables-nft")
F9 = (FW, "The executed nft commands do not make permanent changes", "executing nft flush ruleset as root.")

ANA = "sect.asynchronous-task-scheduling-anacron.html"
N1 = (ANA, "anacron is the daemon that completes cron", "see the anacrontab (5) manual page.")
N2 = (ANA, "Unix systems (and thus Linux) are multi-tasking")
N3 = (ANA, "nice works with levels of “niceness”", "(especially those scheduled by users).")

ADV = "advanced-administration.html"
RAID = [(ADV, "RAID and LVM are both techniques to abstract the mounted volumes"),
        (ADV, "RAID means Redundant Array of Independent Disks ."),
        (ADV, "RAID can be implemented either by dedicated hardware"),
        (ADV, "Even though the kernel's RAID subsystem allows creating", "and therefore all the data, unavailable."),
        (ADV, "This level doesn't provide any redundancy either"),
        (ADV, "This level, also known as “RAID mirroring”", "to avoid wasting resources."),
        (ADV, "RAID levels that include redundancy allow assigning more disks", "required by three triplets."),
        (ADV, "This RAID level, although expensive")]

LVM = [(ADV, "LVM, the Logical Volume Manager , is another approach"),
       (ADV, "Note that when a physical element is set up to be a PV for LVM"),
       (ADV, "The important thing is that the splitting of a VG into LVs"),
       (ADV, "In any case, keep in mind that an LV isn't particularly attached"),
       (ADV, "For the purposes of illustration, we'll consider a server"),
       (ADV, "Two parameters are required when creating logical volumes", "will probably be preferred over -L .")]

WEB = "sect.http-web-server.html"
APACHE = [(WEB, "The Falcot Corp administrators decided to use the Apache HTTP server",
           "not all provide the same number of available features and modules."),
          (WEB, "Installing the apache2 package is all that is needed.", "To use the event MPM one can use php-fpm ."),
          (WEB, "By default, Apache handles incoming requests under the identity of the www-data user"),
          (WEB, "Apache is a modular server, and many features are implemented by external modules"),
          (WEB, "Apache 2.4 includes the SSL module ( mod_ssl )"),
          (WEB, "A virtual host is an extra identity for the web server."),
          (WEB, "The default configuration for Apache 2 enables name-based virtual hosts.",
           "no particular configuration is therefore needed.")]

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
         answer=[(("APT installs the version with the highest priority, except when that version is older than the "
                  "installed one and its priority is under 1000."), 0, "These priorities will influence APT's"),
                 (("An installed version gets 100 by default and an uninstalled one 500, which rises to 990 for "
                  "packages in the target release chosen with -t or APT::Default-Release."), [0, 1],
                  ["Each installed package version has a priority of 100.", "A non-installed version has a priority"]),
                 (("You override these values with entries in /etc/apt/preferences or /etc/apt/preferences.d/, and a "
                  "version given a negative priority is never installed at all."),
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
         answer=[(("They are not served by the ordinary mirror network but by security.debian.org, a few machines run "
                  "by the Debian System Administrators."), 4, "The security updates are not hosted"),
                 (("For serious issues the security team publishes a Debian Security Advisory (DSA) and announces it "
                  "with the fix on the debian-security-announce mailing list."), 4, "For serious issues, the security"),
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
                 (("non-free holds software that is not entirely free but can still be redistributed freely, and it "
                  "is not officially part of Debian."), 3,
                  ["The non-free component is different", "This archive, which is not officially part"]),
                 ("contrib is free software that needs non-free elements to run or to be compiled.", 3,
                  ["Contrib (contributions) is a set of open source", "The contrib component also includes"]),
                 ("Debian 12 later added a separate non-free-firmware component just for firmware.",
                  None, "general")]),
    case("dh-unattended-upgrades",
         q="How can I have a Debian server install security updates automatically?",
         chunks=[R1, R2, R3, R4, R5, A1, A2, A3],
         answer=[(("Turn on APT::Periodic::Unattended-Upgrade, and the daily APT job will run unattended-upgrade from "
                  "the unattended-upgrades package."), 3, "APT::Periodic::Unattended-Upgrade When this option"),
                 (("By default that tool only applies security updates, which you can change in "
                  "/etc/apt/apt.conf.d/50unattended-upgrades, and dpkg-reconfigure -plow unattended-upgrades sets "
                  "the option for you through debconf."), 3,
                  ["APT::Periodic::Unattended-Upgrade When this option", "Note that this option can be set"]),
                 (("These APT::Periodic variables go in /etc/apt/apt.conf.d/10periodic and are read by a job that "
                  "runs once a day, and if apt-listbugs is installed it holds back packages with known serious or "
                  "grave bugs."), [2, 4],
                  [["This script is run daily", "To control the behavior, use APT configuration"],
                   "If apt-listbugs is installed"]),
                 ("The upgrades run at 03:00 by default, a time you can change with APT::Periodic::Upgrade-Time.",
                  None, "invented")]),
    case("dh-noninteractive-upgrade",
         q="How can I run package upgrades on Debian without any interactive prompts?",
         chunks=[A0, A1, A2, A3, R2, R4, R5],
         answer=[("Give APT the -y option (--assume-yes) so that it answers yes to all of its own questions.", 0,
                  "The case of APT is simple"),
                 (("For debconf, selecting the noninteractive frontend, for instance through the DEBIAN_FRONTEND "
                  "variable, turns off all questions, and informative notes are mailed to the administrator instead."),
                  1, ["If you choose noninteractive", "If a package tries to display", "Note that the configured"]),
                 (("dpkg's configuration file questions are avoided with --force-confdef --force-confold, and package "
                  "scripts are usually fed /dev/null or endless newlines so that they fall back to default "
                  "answers."), [0, 2], ["As we have already mentioned", ["The common approach is to suppress",
                                                                       "None of these methods is 100 % reliable"]]),
                 (("Put together, this is fully reliable, because every package script is required to accept empty "
                  "input."), None, "contradiction")]),
    case("dh-cron-allow-deny",
         q="How can I stop particular users from scheduling cron jobs on a Debian machine?",
         chunks=[C1, C2, C3, C5, C6, C7, C8],
         answer=[(("List the users who may use crontab in /etc/cron.allow, and everyone else automatically loses "
                  "access."), 1, ["You can restrict access to crontab", "All others will automatically"]),
                 (("To shut out only a few users, write their names in /etc/cron.deny instead; at has the matching "
                  "/etc/at.allow and /etc/at.deny files."), 1,
                  ["Conversely, to only block", "This same feature is available for atd"]),
                 (("Without these files every user may schedule jobs in a personal crontab, which is edited with "
                  "crontab -e and kept under /var/spool/cron/crontabs/."), 0,
                  ["By default, all users can schedule", "Each user has thus their own crontab",
                   "It can be edited by running crontab -e"]),
                 ("Changes saved with crontab -e take effect without restarting the cron daemon.", None, "general")]),
    case("dh-cron-dst",
         q="What happens to my cron jobs when the clocks change for daylight saving time?",
         chunks=[C1, C3, C4, C5, C6, C7, C8],
         answer=[(("Debian's cron handles the change as well as it can: a job scheduled in the hour that is skipped in "
                  "spring runs shortly after the jump."), 2,
                  ["In Debian, cron takes the time change", "Thus, the commands that should have been executed"]),
                 ("In autumn, a job that falls in the hour that happens twice is run only once.", 2,
                  "On the other hand, in autumn"),
                 (("If the order of or spacing between such jobs matters, cron keeps their usual intervals, so there "
                  "is nothing to check."), None, "contradiction")]),
    case("dh-dpkg-file-collision",
         q="dpkg refuses to install a package because one of its files belongs to another package. What can I do?",
         chunks=[D1, D2, D3, D4, D5, D6],
         answer=[(("That is a file collision: dpkg will not install a package that contains a file another installed "
                  "package already owns."), 1,
                  ["The most frequent error", "When a package contains a file that is already installed"]),
                 (("If you judge that replacing the file is harmless, as it usually is, the --force-overwrite option "
                  "makes dpkg ignore the error and overwrite it."), 1, "In this case, if you think that replacing"),
                 (("Keep away from the other --force-* options, since overriding dependencies or conflicts can leave a "
                  "system on which APT will do nothing except repair it."), 2,
                  ["It is better to leave them alone", "If you are not careful, the use of an option",
                   "The result is an inconsistent system"]),
                 (("dpkg keeps a copy of each overwritten file under /var/backups/dpkg-overwrite/ so the change can "
                  "be undone."), None, "invented")]),
    case("dh-dpkg-remove-purge",
         q="What is the difference between dpkg -r and dpkg -P, and how do I find which package a file came from?",
         chunks=[D1, D2, D3, D4, D5, D6],
         answer=[(("dpkg -r uninstalls the package but keeps its configuration files, maintainer scripts, logs and "
                  "user data, so you can reinstall it later with the same settings."), 4,
                  ["Invoking dpkg with the -r", "This removal is, however, not complete", "That way disabling"]),
                 ("dpkg -P, or --purge, removes everything that belongs to the package.", 4,
                  "To completely remove everything"),
                 ("To see which package contains a given file, use dpkg -S (--search).", 5, "Giving first the long"),
                 ("apt purge does the same job as dpkg -P while also handling dependencies.", None, "general")]),
    case("dh-backup-hard-links",
         q="How can I keep many daily rsync backups without using much disk space?",
         chunks=[B1, B2, B3, B4, B5, B7, B8],
         answer=[(("Before each rsync run the previous backup is duplicated with hard links, and rsync then replaces "
                  "only the files that changed since that backup."), 3,
                  ["As such, the rsync command is preceded", "The rsync process then only replaces"]),
                 (("That costs little because a hard link is just a second name for an existing file and uses no "
                  "extra disk space, so many backups fit in a small amount of space."), [2, 3],
                  [["Creating a hard link is essentially", "It is interesting to note that, unlike a copy"],
                   "With this mechanism a great number of backups"]),
                 (("The dirvish program implements this scheme, keeping timestamped copies of file sets, called "
                  "vaults, in a storage area it calls a bank."), 3,
                  ["This backup mechanism is easily implemented", "It uses a backup storage space"]),
                 ("Hard links also work across filesystems, so each new backup can go to a different disk.",
                  None, "contradiction")]),
    case("dh-dirvish-expiration",
         q="How does dirvish decide when old backups are deleted?",
         chunks=[B1, B3, B4, B5, B6, B7, B8],
         answer=[(("Expiration is configured in /etc/dirvish/master.conf with the expire-default and expire-rule "
                  "settings."), [3, 4], ["It defines the location of the backup storage space",
                                        "Finally, the expire-default and expire-rule settings"]),
                 (("Order matters: dirvish uses the last rule that matches and falls back to expire-default when none "
                  "does."), 4, "The order of the rules does matter"),
                 (("Each copy gets its expiry date when it is created, and dirvish-expire just deletes the copies "
                  "whose date has passed."), 4, ["In reality, the expiration rules are applied",
                                               "dirvish-expire simply peruses"]),
                 ("Expired copies are first moved to a trash directory and kept for seven more days.",
                  None, "invented")]),
    case("dh-nftables-tables",
         q="Which firewall framework does Debian use by default, and how are its rules organised?",
         chunks=[F1, F2, F3, F5, F6, F7, F8],
         answer=[(("Since Buster, Debian uses nftables by default, the successor to netfilter's iptables commands, "
                  "which is driven by the single nft command."), 1,
                  ["However, Netfilter iptables commands are being replaced", "Its design involves less code",
                   "Since Debian Buster"]),
                 (("Rules sit in chains and chains in tables, and unlike iptables there is no default table, so you "
                  "create the tables you need yourself."), 4,
                  ["The firewall is configured with tables", "Unlike iptables, nftables does not have",
                   "The user decides"]),
                 (("Each table is assigned exactly one family out of ip, ip6, inet, arp and bridge, and ip applies "
                  "when none is given."), 4, [("Every table must have only one", "inet , arp and bridge ."), "ip is used if the family"]),
                 ("The inet family lets a single table handle both IPv4 and IPv6 traffic.", None, "general")]),
    case("dh-nftables-persistent",
         q="My nft firewall rules are gone after every reboot. How do I make them permanent on Debian?",
         chunks=[F1, F2, F3, F6, F7, F8, F9],
         answer=[("Rules added with nft are not saved anywhere, so they are lost unless you store them.", 6,
                  "The executed nft commands do not make permanent"),
                 (("Write the current ruleset to /etc/nftables.conf, for instance with nft list ruleset > "
                  "/etc/nftables.conf as root, and run systemctl enable nftables so it is loaded at boot."), 6,
                  ["The firewall rules are located", ("A simple way to save", "/etc/nftables.conf as root."),
                   "To enable a default firewall"]),
                 (("If you still write old iptables rules, iptables-persistent can keep those across reboots, but the "
                  "iptables-nft compatibility tools are only meant for backwards compatibility."), [2, 5],
                  ["Typing these commands manually can be tedious", "The tools iptables-nft"]),
                 ("Alternatively, nft save writes the ruleset to /var/lib/nftables/rules.v4 for you.",
                  None, "invented")]),
    case("dh-anacron",
         q="My laptop is switched off at night, so the daily cron jobs never run. What does Debian offer for that?",
         chunks=[N1, N2, N3, C1, C3, C5, C7],
         answer=[(("The anacron daemon complements cron on machines that are not always on by running the periodic jobs "
                  "that were missed while the computer was off."), 0,
                  ["anacron is the daemon that completes cron", "The purpose of anacron is to execute them"]),
                 (("Since it often starts them a few minutes after boot, the jobs in /etc/anacrontab are launched "
                  "with nice to lower their priority."), 0,
                  ["Please note that anacron will frequently", "This is why the tasks in the /etc/anacrontab"]),
                 (("Normally cron itself runs the scripts in /etc/cron.hourly/, /etc/cron.daily/, /etc/cron.weekly/ "
                  "and /etc/cron.monthly/, but installing anacron switches that off so they are not run twice."),
                  [4, 2], ["The cron package includes by default",
                           ["Installation of the anacron package deactivates", "This avoids their double execution"]]),
                 (("anacrontab uses the same format as /etc/crontab, so existing entries can be copied over "
                  "unchanged."), None, "contradiction")]),
    case("dh-raid0-raid1",
         q="What is the difference between RAID-0 and RAID-1 with Linux software RAID?",
         chunks=RAID,
         answer=[(("RAID-0 has no redundancy: it spreads data over the disks in stripes, which speeds up large "
                  "sequential transfers, but a single failed disk makes all the data unavailable."), 4,
                  ["This level doesn't provide any redundancy either", "This system doesn't aim at increasing"]),
                 (("RAID-1 keeps identical copies on two disks of the same size, so the data is still there when one "
                  "of them fails."), 5, ["In its standard form", "Data are stored identically", "When one disk fails"]),
                 (("A mirror leaves at best half of the raw space usable, and with disks of different sizes only the "
                  "capacity of the smallest one counts."), [7, 5],
                  ["This RAID level, although expensive", "The useful available space provided by a RAID-1"]),
                 ("The usual tool for creating and managing such arrays on Linux is mdadm.", None, "general")]),
    case("dh-raid-spare-disks",
         q="Why add a spare disk to a RAID array instead of simply mirroring over three disks?",
         chunks=RAID[1:],
         answer=[(("A spare is an extra disk that the kernel uses at once to rebuild the array when one of the main "
                  "disks fails, so redundancy is restored after the rebuild."), 5,
                  ["The extra disks are used as spares", "For instance, in a mirror of two disks plus one spare"]),
                 (("Unlike a three-way mirror, one spare can serve several RAID volumes, so three mirrors need seven "
                  "disks rather than nine."), 5,
                  ["The advantage of the “spare disk” configuration", "For instance, one can have three mirrored"]),
                 ("The Linux kernel allows at most two spare disks per array.", None, "invented")]),
    case("dh-lvm-concepts",
         q="What are PVs, VGs and LVs in LVM?",
         chunks=[*LVM, RAID[0]],
         answer=[(("A PV, or physical volume, is the layer closest to the hardware: a partition, a whole disk or any "
                  "other block device, a RAID array included."), 0, "First, the PV ( Physical Volume )"),
                 (("PVs are grouped into a VG, a volume group that behaves like an extensible virtual disk, and the VG "
                  "is cut into LVs, logical volumes that play the part of partitions."), 1,
                  ["A number of PVs can be clustered in a VG", "The third kind of object is the LV"]),
                 (("How a VG is divided into LVs is independent of its physical disks; the only limit is that the LVs "
                  "together cannot exceed the capacity of its PVs."), 2,
                  ["The important thing is that the splitting", "The only constraint, obviously"]),
                 ("VGs show up as device files under /dev, so a filesystem can be created on them directly.",
                  None, "contradiction")]),
    case("dh-lvcreate",
         q="How do I create a logical volume with lvcreate, and can I size it precisely?",
         chunks=[*LVM, RAID[0]],
         answer=[(("lvcreate needs the new volume's name with -n and, usually, its size with -L, followed by the "
                  "volume group to use as the last argument."), 5,
                  ["Two parameters are required", "The name of the LV to be created", "We also need to tell"]),
                 (("For a precise size, such as all the remaining space, -l takes a number of physical extents "
                  "instead."), 5, ["Let's first describe the -l option", "When one wants to define storage space"]),
                 (("Extents are contiguous units of space on a PV that are never shared between LVs, and an LV is not "
                  "bound to any single PV, so its data can later be moved to other disks of the VG."), [5, 3],
                  ["These blocks (called PEs", ["In any case, keep in mind", "On the contrary: when the set"]]),
                 ("lvcreate refuses to allocate more than 90% of a volume group unless --force is given.",
                  None, "invented")]),
    case("dh-apache-mpm-php",
         q="Why did Apache on Debian switch to the prefork MPM after I installed PHP support?",
         chunks=APACHE,
         answer=[("Installing libapache2-mod-php turns off Apache's default event MPM and makes it use prefork.", 1,
                  ["The Falcot administrators also install libapache2-mod-php", "This causes the default event MPM"]),
                 (("Prefork handles requests with a pool of processes started in advance, while event uses threads and "
                  "passes idle keep-alive connections to a dedicated thread."), 1,
                  ["With the worker MPM, it uses threads", "With the event MPM it also uses threads"]),
                 ("To keep the event MPM, run PHP through php-fpm instead.", 1, "To use the event MPM one can use"),
                 ("You can check which MPM is active with apachectl -V.", None, "general")]),
    case("dh-apache-https-vhosts",
         q="Can Apache on Debian serve several HTTPS sites from a single IP address?",
         chunks=APACHE,
         answer=[(("Yes: name-based virtual hosts share one IP address and port and are told apart by the host name "
                  "the client sends, and Debian's Apache 2 enables them by default."), [5, 6],
                  ["The first method requires allocating", "The default configuration for Apache 2 enables"]),
                 (("For HTTPS this relies on SNI, which lets the browser send the host name while the encrypted "
                  "connection is being set up, so Apache can choose the matching certificate."), 6,
                  ["This extension allows the browser to send", "This allows Apache to select"]),
                 ("The apache2 package in Debian is built with SNI support, so nothing extra needs configuring.", 6,
                  "The Apache package provided in Debian is built"),
                 (("A request for a host name that matches no site gets a 404 error instead of being answered by one "
                  "of the sites."), None, "contradiction")]),
]
