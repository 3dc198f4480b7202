"""Cases cut from git-doc (HTML under /usr/share/doc/git-doc/), in writing order."""

from build_pg_git import C, G, S, U

CASES = []
