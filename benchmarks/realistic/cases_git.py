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
      "What happens when git merge runs into a conflict, and how do I abandon the merge?",
      [(UM, [42, 43, 44, 45, 46, 47, 48, 49])],
      [S("If the same file was changed in different ways on both branches, Git stops, warns you, and leaves "
         "conflict markers in the affected files for you to resolve.",
         G(UM, 43, "On the other hand, if there are conflicts", "Conflict markers are left")),
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
      [S("Git records every earlier position of each branch in a reflog, so git log master@{1} still shows the "
         "old commits, as long as the entries have not expired after their default 30 days.",
         G(UM, 56, "Fortunately, Git also keeps a log", "So in this case you can still find"),
         G(UM, 57, "The reflogs are kept by default for 30 days")),
       S("The reflog only exists in your own repository and is never shared with others.",
         G(UM, 57, "While normal history is shared")),
       U("Dangling objects are never removed automatically, so they stay recoverable indefinitely.",
         "contradiction")]),

    C("git-rebase-published-branch",
      "How do I keep my feature branch current with upstream using rebase instead of merge?",
      [(UM, [85, 87, 88, 89, 90, 92, 93, 94])],
      [S("Running git rebase origin takes your commits off the branch, moves it to the latest upstream commit "
         "and replays each commit on top, which keeps the history linear without a merge commit.",
         G(UM, 87, "You have performed no merges")),
       S("When a conflict interrupts the rebase, fix it, stage the files with git add and run git rebase "
         "--continue, or use --abort to return to where you started.",
         G(UM, 88, "In that case it will stop", "At any point you may use the --abort")),
       U("Recent Git versions refuse to rebase a branch that has already been pushed unless you add "
         "--allow-published.", "invented")]),

    C("git-object-types",
      "What kinds of objects does Git store, and how does it notice a corrupted object?",
      [(UM, [103, 104, 105, 106, 107, 108, 109, 110])],
      [S("There are four types: blobs hold file data, trees arrange blobs and other trees into directories, "
         "commits tie a tree into the history, and tags name and can sign other objects.",
         G(UM, 104, "There are four different types", "A \"blob\" object is used", "A \"tree\" object ties",
           "A \"commit\" object ties"),
         G(UM, 105, "A \"tag\" object symbolically")),
       S("Git can spot a damaged object when it reads it, because the object's name must still equal the SHA-1 "
         "hash of its contents.",
         G(UM, 104, "Git can detect errors when it reads")),
       U("Newer Git versions can also create repositories that use SHA-256 object names, with git init "
         "--object-format=sha256.", "general")]),

    C("git-pack-files-gc",
      "What are loose objects and pack files, and how do I pack a repository by hand?",
      [(UM, [55, 112, 113, 114, 115, 116, 117])],
      [S("New objects start out as individual loose files under .git/objects, and git repack gathers them into "
         "a single compressed pack file.",
         G(UM, 112, "How Git stores objects efficiently"), G(UM, 113, "Total 6020")),
       S("Afterwards git prune deletes the loose copies and also removes objects that nothing references.",
         G(UM, 113, "You can then run", "This will also remove any unreferenced")),
       U("Dangling objects reported by git fsck mean the repository is corrupted and must be repaired right "
         "away.", "contradiction")]),

    C("git-submodules-clone",
      "How do I clone a project that uses submodules, and which commit do the submodules end up on?",
      [(UM, [126, 127, 128, 129, 130, 131, 132, 133])],
      [S("Right after cloning the superproject the submodule directories are empty; git submodule init "
         "registers their URLs and git submodule update then clones them.",
         G(UM, 129, "Now clone the superproject"),
         G(UM, 130, "Pulling down the submodules", "First run git submodule init")),
       S("The update checks out the exact commit recorded in the superproject rather than the tip of a branch.",
         G(UM, 130, "First run git submodule init")),
       U("Submodules can be nested at most three levels deep.", "invented")]),

    C("git-remote-tracking-branches",
      "Does git fetch change my own branches, and how do I track branches from another repository?",
      [(UM, [16, 17, 18, 19, 20, 60, 61])],
      [S("A plain git fetch brings all remote-tracking branches up to date but leaves your own branches alone, "
         "including the master branch created by the clone.",
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
       S("Any code from 1 to 127 marks the commit bad, except 125, which tells Git that the commit cannot be "
         "tested, just like git bisect skip in a manual session.",
         G(BL, 13, "If it exits with code 1"),
         G(BL, 14, "This is what the special exit code 125", "It tells \"git bisect run\"",
           "If the bisection process is driven manually")),
       S("Codes from 128 to 255 stop the bisection at once.",
         G(BL, 13, "Exit code between 128 and 255", "They make it stop")),
       U("You can also start the session with git bisect start --first-parent to follow only the first parent "
         "of merge commits.", "general")]),

    C("git-revert-faulty-merge",
      "We reverted a bad merge, fixed the side branch and merged it again, but the earlier changes are missing. "
      "Why, and how do we fix it?",
      [(RFM, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("Reverting a merge undoes the data it brought in but not its effect on history, so later merges still "
         "treat that merge as the last shared state.",
         G(RFM, 2, "But reverting a merge commit also undoes", "So the merge will still exist")),
       S("If the branch was fixed by adding commits on top, you first need to revert the revert and then merge; "
         "if it was rebuilt from scratch, merging it again is enough.",
         G(RFM, 5, "To recap", "If the faulty side branch whose effects")),
       U("Technically, Git handles the revert of a merge poorly, which is the main reason to avoid it.",
         "contradiction")]),

    C("git-partial-clone",
      "What is a partial clone, and what happens when I need an object that was not downloaded?",
      [(PC, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("A partial clone skips objects you do not need in advance, such as old versions of large binary files, "
         "which cuts download time and disk usage.",
         G(PC, 1, "For example, in a repository where large build", "Partial clone allows us to avoid")),
       S("Missing objects are fetched on demand from a promisor remote, so you have to be online and that remote "
         "has to be reachable.",
         G(PC, 1, "Missing objects can later be", "A remote that can later provide"),
         G(PC, 2, "Use of partial clone requires")),
       U("You start one by passing --partial=blobs to git clone.", "invented")]),

    C("git-racy-git",
      "What is the racy Git problem, and how does Git avoid it?",
      [(RG, [0, 1, 2, 3, 4, 5, 6, 7])],
      [S("The racy Git problem occurs when a file is changed again so quickly that its mtime stays the same, so "
         "the cached stat data in the index still matches even though the contents differ.",
         G(RG, 3, "If the modification that follows it happens very fast"),
         G(RG, 4, "This way, Git can incorrectly think")),
       U("The access time st_atime is one of the stat fields Git compares.", "contradiction"),
       S("Git guards against it by also comparing the contents of entries whose mtime is not older than the "
         "index file itself.",
         G(RG, 4, "To avoid this problem, Git does two things"))]),

    C("git-push-rejected",
      "Why was my git push rejected as a non-fast-forward, and is it all right to force the push?",
      [(UM, [66, 67, 68, 69, 70, 71, 72, 73])],
      [S("Such a rejection typically follows a reset, amend or rebase of commits that were already published.",
         G(UM, 71, "This can happen, for example, if you")),
       S("You can override it with a plus sign in front of the branch name or with -f, but doing so breaks the "
         "convention that a public branch only ever moves forward.",
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
      [S("The step that writes files is handed to several checkout--worker background processes that the main "
         "Git command controls.",
         G(PCO, 3, "Multi-Process Solution Parallel checkout alters", "The long-running worker processes")),
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
      "What is the multi-pack-index, and how does Git use it?",
      [(MIDX, [0, 1, 2, 3, 4]), (UM, [112, 113])],
      [S("A multi-pack-index lists objects with their offsets across many packfiles, which keeps lookups at "
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
       S("When such a repository fetches from or pushes to a SHA-1 server, objects are converted between the two "
         "forms so the server does not need to know which hash the client uses.",
         G(HFT, 6, "Fetches from a SHA-1 based server", "Pushes to a SHA-1 based server")),
       U("An existing repository is converted with git convert-hash --to=sha256.", "invented")]),
]
