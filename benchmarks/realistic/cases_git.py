"""Cases cut from git-doc (HTML under /usr/share/doc/git-doc/), in writing order."""

from build_pg_git import C, G, S, U

UM = "user-manual.html"
BL = "git-bisect-lk2009.html"
RFM = "howto/revert-a-faulty-merge.html"
PC = "technical/partial-clone.html"
RG = "technical/racy-git.html"
PCO = "technical/parallel-checkout.html"
MIDX = "technical/multi-pack-index.html"
HFT = "technical/hash-function-transition.html"

CASES = [
    C("git-merge-conflicts",
      "What happens when git merge runs into a conflict, and how do I finish or abandon the merge?",
      [(UM, [42, 43, 44, 45, 46, 47, 48, 49])],
      [S("If the same file was changed in different ways on both branches, Git stops, warns you, and leaves "
         "conflict markers in the affected files for you to resolve.",
         G(UM, 43, "On the other hand, if there are conflicts", "Conflict markers are left")),
       S("While the conflict is open, the index keeps three versions of each such file: the common ancestor, "
         "your HEAD version and the version being merged in.",
         G(UM, 46, "During the merge, the index holds three", "Each of these three")),
       U("You can also pass --resolve=ours to git commit to accept your side for every conflicted file at once.",
         "invented"),
       S("If you would rather give up, git merge --abort takes you back to the state before the merge started.",
         G(UM, 49, "Undoing a merge If you get stuck"))]),

    C("git-revert-vs-amend",
      "I committed something by mistake. Should I use git revert, or reset and amend?",
      [(UM, [49, 50, 51, 52, 53, 54, 55])],
      [S("If the commit has already been made public, add a new commit that undoes it with git revert, for "
         "example git revert HEAD for the most recent one.",
         G(UM, 51, "This is the correct thing if your mistake", "Fixing a mistake with a new commit")),
       S("Rewriting history with git reset or git commit --amend is only appropriate for commits nobody else "
         "has, because Git cannot merge repeatedly from a branch whose history was changed.",
         G(UM, 51, "You should never do this if you have already"),
         G(UM, 52, "Fixing a mistake by rewriting history")),
       S("Reverting an older commit such as HEAD^ keeps the changes made after it, but if they overlap you have "
         "to resolve the conflicts by hand.",
         G(UM, 52, "You can also revert an earlier change", "If more recent changes")),
       U("git reset --soft HEAD~1 removes the last commit but leaves its changes staged.", "general")]),

    C("git-recover-lost-commits",
      "I ran git reset --hard and lost some commits. How can I get them back?",
      [(UM, [54, 55, 56, 57, 58, 59, 114, 115])],
      [S("Git records every earlier position of each branch in a reflog, so you can still reach the old commits "
         "with something like git log master@{1}.",
         G(UM, 56, "Fortunately, Git also keeps a log", "So in this case you can still find")),
       S("Reflog entries are kept for 30 days by default and exist only in your own repository, since they are "
         "never shared with others.",
         G(UM, 57, "The reflogs are kept by default for 30 days", "While normal history is shared")),
       S("If the branch and its reflog were deleted, the lost commits may still appear as dangling objects in "
         "git fsck, and you can create a new branch that points at one of them.",
         G(UM, 58, "The reflog is also deleted"), G(UM, 59, "If you decide you want the history back")),
       U("Dangling objects are never removed automatically, so they stay recoverable indefinitely.",
         "contradiction")]),

    C("git-rebase-published-branch",
      "How do I keep my feature branch current with upstream using rebase instead of merge, and can I rebase a "
      "branch I have already published?",
      [(UM, [85, 87, 88, 89, 90, 92, 93, 94])],
      [S("Running git rebase origin takes your commits off the branch, moves it to the latest upstream commit "
         "and replays each commit on top, which keeps the history linear without a merge commit.",
         G(UM, 87, "You have performed no merges")),
       S("When a conflict interrupts the rebase, fix it, stage the files with git add and run git rebase "
         "--continue, or use --abort to return to where you started.",
         G(UM, 88, "In that case it will stop", "At any point you may use the --abort")),
       S("Rebasing a branch that others have merged causes trouble, because Git sees the rewritten commits as "
         "unrelated parallel work and merges both lines, so published branches should not be rewritten.",
         G(UM, 93, "Suppose somebody fetches your branch"),
         G(UM, 94, "At this point, if someone attempts", "For true distributed development")),
       U("Recent Git versions refuse to rebase a branch that has already been pushed unless you add "
         "--allow-published.", "invented")]),

    C("git-object-types",
      "What kinds of objects does Git store, and how does it tell that two pieces of content are identical?",
      [(UM, [103, 104, 105, 106, 107, 108, 109, 110])],
      [S("Every object is named by the SHA-1 hash of its contents, so the same content always ends up under the "
         "same name, in any repository.",
         G(UM, 103, "In each case the name is calculated", "Since object names are computed")),
       S("There are four types: blobs hold file data, trees arrange blobs and other trees into directories, "
         "commits tie a tree into the history, and tags name and can sign other objects.",
         G(UM, 104, "There are four different types", "A \"blob\" object is used", "A \"tree\" object ties",
           "A \"commit\" object ties"),
         G(UM, 105, "A \"tag\" object symbolically")),
       S("A commit does not store a diff: changes are worked out by comparing its tree with its parents' trees, "
         "and renames are not recorded explicitly.",
         G(UM, 107, "Note that a commit does not itself contain", "In particular, Git does not attempt")),
       U("Newer Git versions can also create repositories that use SHA-256 object names, with git init "
         "--object-format=sha256.", "general")]),

    C("git-pack-files-gc",
      "What are loose objects and pack files, and do I have to run git gc myself?",
      [(UM, [55, 112, 113, 114, 115, 116, 117])],
      [S("New objects are first written as separate loose files under .git/objects, which gets inefficient "
         "once a project has many objects.",
         G(UM, 112, "How Git stores objects efficiently", "Unfortunately this system becomes")),
       S("git repack gathers them into a single compressed pack file, after which git prune deletes the loose "
         "copies together with unreferenced objects.",
         G(UM, 113, "Total 6020", "You can then run", "This will also remove any unreferenced")),
       S("In practice git gc does the packing and pruning for you and some commands run it automatically, but "
         "you may start it yourself so that a slow automatic run does not hit at a bad moment.",
         G(UM, 114, "The git-gc(1) command performs packing"),
         G(UM, 55, "Some Git commands may automatically run", "However, compressing a large repository")),
       U("Dangling objects reported by git fsck mean the repository is corrupted and must be repaired right "
         "away.", "contradiction")]),

    C("git-submodules-clone",
      "How do I clone a project that uses submodules, and what should I watch out for when I change one?",
      [(UM, [126, 127, 128, 129, 130, 131, 132, 133])],
      [S("The superproject only records each submodule's repository location and commit ID, which is why the "
         "submodule directories are empty right after a clone.",
         G(UM, 127, "Submodules maintain their own identity"), G(UM, 129, "Now clone the superproject")),
       S("Populating them takes two steps: git submodule init copies their URLs into .git/config, and git "
         "submodule update clones them and checks out the recorded commits.",
         G(UM, 130, "Pulling down the submodules", "First run git submodule init")),
       S("Always push your submodule commit before pushing the superproject change that points to it, or "
         "other people will not be able to check it out.",
         G(UM, 132, "Pitfalls with submodules Always publish", "If you forget to publish")),
       U("Submodules can be nested at most three levels deep.", "invented")]),

    C("git-remote-tracking-branches",
      "What are remote-tracking branches, and does git fetch change my own branches?",
      [(UM, [16, 17, 18, 19, 20, 60, 61])],
      [S("Remote-tracking branches such as origin/master are your local record of the branches in the "
         "repository you cloned from, and git branch -r lists them.",
         G(UM, 16, "That repository may also have had other branches")),
       S("A plain git fetch brings all of them up to date but leaves your own branches alone, including the "
         "master branch created by the clone.",
         G(UM, 19, "The git-fetch command, with no arguments", "It will not touch any of your own")),
       S("To follow another repository, add it with git remote add, which writes a new remote section with a "
         "fetch refspec into .git/config.",
         G(UM, 19, "Fetching branches from other repositories"), G(UM, 20, "If you examine the file .git/config")),
       U("Running git fetch --prune also deletes remote-tracking branches whose branch no longer exists on the "
         "remote.", "general")]),

    C("git-bisect-run-exit-codes",
      "How can I automate git bisect with a test script, and which exit codes does it understand?",
      [(BL, [9, 10, 11, 12, 13, 14, 15]), (UM, [22])],
      [S("With git bisect run, Git launches your command at every step and marks the current commit good when "
         "the command exits with code 0.",
         G(BL, 13, "This means that at each step", "And if it exits with code 0")),
       S("Exit codes from 1 to 127, except 125, mark the commit bad, while codes from 128 to 255 stop the "
         "bisection immediately.",
         G(BL, 13, "If it exits with code 1", "Exit code between 128 and 255", "They make it stop")),
       S("Code 125 marks the commit as untestable, like git bisect skip in a manual session, although a run of "
         "skipped commits can leave Git unable to name a single culprit.",
         G(BL, 14, "This is what the special exit code 125", "It tells \"git bisect run\"",
           "If the bisection process is driven manually"),
         G(BL, 15, "Either way, if you have a string", "In this case it’s not possible")),
       U("You can also start the session with git bisect start --first-parent to follow only the first parent "
         "of merge commits.", "general")]),

    C("git-revert-faulty-merge",
      "We reverted a bad merge, fixed the side branch and merged it again, but the earlier changes are missing. "
      "Why, and how do we fix it?",
      [(RFM, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("Reverting a merge undoes the data it brought in but not its effect on history, so later merges still "
         "treat that merge as the last shared state.",
         G(RFM, 2, "But reverting a merge commit also undoes", "So the merge will still exist")),
       S("That is why the commits made before the revert are left out when the fixed branch is merged again.",
         G(RFM, 1, "Such a \"revert\" of a merge")),
       S("If the branch was fixed by adding commits on top, first revert the revert with git revert W and then "
         "merge; if it was rebuilt from scratch, just merge it again.",
         G(RFM, 3, "In such a situation, you would want to first revert"),
         G(RFM, 5, "To recap", "If the faulty side branch whose effects")),
       U("Technically, Git handles the revert of a merge poorly, which is the main reason to avoid it.",
         "contradiction")]),

    C("git-partial-clone",
      "What is a partial clone, and what happens when I need an object that was not downloaded?",
      [(PC, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("A partial clone lets Git work without a complete copy of the repository by leaving out objects you do "
         "not need, such as old versions of large files, which cuts download time and disk usage.",
         G(PC, 0, "Partial Clone Design Notes"), G(PC, 1, "Partial clone allows us to avoid")),
       S("Missing objects are fetched on demand from a promisor remote, so you have to be online and that remote "
         "has to be reachable.",
         G(PC, 1, "Missing objects can later be", "A remote that can later provide"),
         G(PC, 2, "Use of partial clone requires")),
       S("Because fetching objects one by one is slow, checkout collects all the missing blobs it needs and "
         "fetches them in a single batch.",
         G(PC, 6, "Dynamic object fetching tends to be slow")),
       U("You start one by passing --partial=blobs to git clone.", "invented")]),

    C("git-racy-git",
      "How does Git tell whether a file in the working tree changed, and what is the racy Git problem?",
      [(RG, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("To compare quickly, each index entry caches the stat information from lstat(2), and when those fields "
         "differ Git knows the file changed without reading its contents.",
         G(RG, 1, "In order to speed up this comparison", "If some of these \"cached stat information\"")),
       U("The access time st_atime is one of the fields Git compares.", "contradiction"),
       S("The racy Git problem occurs when a file is changed again so quickly that its mtime stays the same, so "
         "the cached data still matches even though the contents differ.",
         G(RG, 3, "If the modification that follows it happens very fast"),
         G(RG, 4, "This way, Git can incorrectly think")),
       S("Git guards against it by also comparing the contents of entries whose mtime is not older than the "
         "index file itself.",
         G(RG, 4, "To avoid this problem, Git does two things"))]),

    C("git-push-rejected",
      "Why was my git push rejected as a non-fast-forward, and is it all right to force the push?",
      [(UM, [66, 67, 68, 69, 70, 71, 72, 73])],
      [S("Git refuses a push that would not fast-forward the remote branch, which typically happens after you "
         "reset, amend or rebase commits that were already published.",
         G(UM, 70, "What to do when a push fails"), G(UM, 71, "This can happen, for example, if you")),
       S("You can override this with a plus sign in front of the branch name or with -f, but doing so breaks "
         "the convention that a public branch only ever moves forward.",
         G(UM, 71, "You may force git push", "Alternatively, you can use the -f flag"),
         G(UM, 72, "By forcing a push in this situation")),
       S("If the push failed because someone else pushed first, bring your branch up to date with a pull, or a "
         "fetch followed by a rebase, and then push again.",
         G(UM, 72, "It’s also possible for a push to fail", "In that case, the correct solution")),
       U("By default Git also lets you push to the branch that is currently checked out in a non-bare "
         "repository.", "contradiction")]),

    C("git-parallel-checkout",
      "How does Git's parallel checkout speed up writing files, and why does it use processes instead of threads?",
      [(PCO, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("Parallel checkout spreads the work of inflating blobs, applying filters and writing files over several "
         "processes, and commands such as clone, checkout and reset all use it.",
         G(PCO, 0, "Parallel Checkout Design Notes", "It can be used by all checkout-related")),
       S("A multi-threaded design was dropped because the thread-unsafe object database code needed locks, and a "
         "prototype spent about 20% of a local Linux clone in locking functions.",
         G(PCO, 2, "But due to the thread-unsafe functions", "An early prototype of this solution",
           "A perf profiling indicated"),
         G(PCO, 3, "For this reason this approach was rejected")),
       S("The main process still checks each entry for untracked or unclean files it would overwrite and "
         "creates the leading directories itself.",
         G(PCO, 3, "Overview Step 3b", "M2: Create the leading directories.")),
       U("By default Git starts one worker per CPU core as soon as at least 50 files need to be written.",
         "invented")]),

    C("git-multi-pack-index",
      "What problem does the multi-pack-index solve, and how does Git use it?",
      [(MIDX, [0, 1, 2, 3, 4]), (UM, [112, 113])],
      [S("Looking objects up through per-pack index files gets slower as the number of packfiles grows, and "
         "repacking a very large repository into a single pack is not always practical.",
         G(MIDX, 0, "While the pack-indexes provide fast lookup", "For some large repositories")),
       S("A multi-pack-index lists objects with their offsets across many packfiles, which keeps lookups at "
         "O(log N) however many packs there are.",
         G(MIDX, 1, "The multi-pack-index (MIDX for short)", "Thus, we can provide")),
       S("It lives in .git/objects/pack/multi-pack-index and is only read while core.multiPackIndex is on, "
         "which is the default.",
         G(MIDX, 1, "Design Details The MIDX is stored"), G(MIDX, 2, "The core.multiPackIndex config setting")),
       U("You can create one with the git multi-pack-index write command.", "general")]),

    C("git-sha256-transition",
      "Why is Git moving away from SHA-1, and can a SHA-256 repository still work with SHA-1 servers?",
      [(HFT, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("After the SHAttered attack demonstrated a practical SHA-1 collision in February 2017, Git 2.13.0 "
         "switched to a hardened SHA-1 implementation, but SHA-1 is still considered weak.",
         G(HFT, 1, "On 23 February 2017 the SHAttered attack", "Git v2.13.0 and later")),
       S("SHA-256 was picked as the successor hash in late 2018.",
         G(HFT, 3, "In late 2018 the project picked")),
       S("The design lets a SHA-256 repository fetch from and push to SHA-1 servers by keeping a two-way mapping "
         "between the two kinds of names and converting objects in both directions.",
         G(HFT, 5, "Alongside the packfile, a SHA-256 repository"),
         G(HFT, 6, "Fetches from a SHA-1 based server", "Pushes to a SHA-1 based server")),
       U("An existing repository is converted with git convert-hash --to=sha256.", "invented")]),
]
