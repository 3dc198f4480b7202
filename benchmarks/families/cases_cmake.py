"""Cases cut from cmake-doc (CMake 3.25 reference and guides, /usr/share/doc/cmake-doc/html/), in writing order."""

from build_families_a import C, G, S, U, X

TLL = "command/target_link_libraries.html"
FIND = "command/find_package.html"
FETCH = "module/FetchContent.html"
SET = "command/set.html"
ADDLIB = "command/add_library.html"
DEPS = "guide/using-dependencies/index.html"
MINREQ = "command/cmake_minimum_required.html"
POLICY = "command/cmake_policy.html"

CASES = [
    C("cmake-link-scope-keywords", "moderate",
      "In target_link_libraries, what is the difference between PUBLIC, PRIVATE and INTERFACE, and should I "
      "still use LINK_PUBLIC?",
      [(TLL, [6, 7, 8, 9, 10, 11])],
      [S("PUBLIC libraries get linked into your target and are also added to its link interface.",
         G(TLL, 8, "Libraries and targets following PUBLIC")),
       S("PRIVATE ones are linked but stay out of the link interface, while INTERFACE ones only go into the link "
         "interface and are not used to link the target itself.",
         G(TLL, 8, "Libraries and targets following PRIVATE", "Libraries following INTERFACE")),
       X("If you call target_link_libraries() without any of these keywords, the libraries are linked privately "
         "by default, so nothing is passed on to dependents.",
         "default", G(TLL, 8, "Libraries for both a Target and its Dependents")),
       S("LINK_PUBLIC and LINK_PRIVATE are only kept for compatibility, and the documentation tells you to "
         "prefer PUBLIC or PRIVATE instead.",
         G(TLL, 9, "This signature is for compatibility only.", "Prefer the PUBLIC or PRIVATE keywords")),
       U("These PUBLIC, PRIVATE and INTERFACE keywords were introduced in CMake 2.8.12.", "general")]),

    C("cmake-find-package-modes", "close",
      "Does find_package() look for a FindFoo.cmake module or a FooConfig.cmake file, and can I change the "
      "order?",
      [(FIND, [1, 2, 3, 4, 5, 6])],
      [S("When the basic signature is used, find_package() searches in Module mode first, and if the package is "
         "not found, the search falls back to Config mode.",
         G(FIND, 4, "When the basic signature is used", "If the package is not found")),
       S("You may set the CMAKE_FIND_PACKAGE_PREFER_CONFIG variable to true to direct CMake to search using "
         "Config mode first before falling back to Module mode.",
         G(FIND, 4, "A user may set the CMAKE_FIND_PACKAGE_PREFER_CONFIG")),
       S("In Config mode, CMake searches for a file called <lowercasePackageName>-config.cmake or "
         "<PackageName>Config.cmake.",
         G(FIND, 2, "Config mode In this mode")),
       X("The MODULE keyword forces pure Config mode, with no fallback to Module mode.",
         "option", G(FIND, 4, "The basic signature can also be forced")),
       U("Config mode also accepts a PATHS_ONLY keyword that skips every default search location.",
         "invented")]),

    C("cmake-fetchcontent-first-wins", "list",
      "Two subprojects both declare googletest with FetchContent at different tags. Which one is used?",
      [(FETCH, [1, 2, 3, 4, 5, 6])],
      [S("FetchContent follows a \"first to record, wins\" rule, which shows up in a few ways:",
         G(FETCH, 4, "This \"first to record, wins\" approach")),
       S("The first details declared for a dependency take precedence, wherever in the project hierarchy that "
         "happens.",
         G(FETCH, 2, "The first details to be declared")),
       S("Likewise, the first call that populates a dependency wins, and later populations reuse its result.",
         G(FETCH, 2, "Similarly, the first call that tries")),
       X("A later FetchContent_Declare() call for the same name replaces the details recorded before it.",
         "negation", G(FETCH, 4, "If such details have already been recorded")),
       U("Downloaded content is cached under ~/.cmake/fetchcontent and shared between build trees.",
         "invented")]),

    C("cmake-set-cache", "joined",
      "Why doesn't set(MY_OPTION ON CACHE BOOL \"...\") change the value after the first configure run?",
      [(SET, [1, 2, 3, 4, 5])],
      [S("set() with CACHE does not overwrite an existing cache entry unless you add FORCE, and the INTERNAL type, "
         "which cmake-gui does not show, implies FORCE.",
         G(SET, 2, "Since cache entries are meant", "Use the FORCE option", "INTERNAL A line of text"),
         G(SET, 3, "Use of this type implies FORCE")),
       S("The entry is set to the given value only if it did not exist before the call or FORCE is given, and "
         "a normal variable of the same name hides the cache variable when you read it.",
         G(SET, 3, "If the cache entry does not exist prior", "Note The content of the cache variable")),
       X("BOOL entries appear as a checkbox in cmake-gui, and a relative PATH passed with -D on the command "
         "line is taken relative to the source directory.",
         "entity", G(SET, 4, "Furthermore, if the <type> is PATH")),
       U("Cache entries are stored in CMakeCache.txt in the build directory, and cmake -U removes matching "
         "entries from it.", "general")]),

    C("cmake-library-types", "heavy",
      "When should a CMake library be SHARED rather than MODULE, and what type do I get if I don't name one?",
      [(ADDLIB, [1, 2, 3, 4, 5, 6])],
      [S("Without an explicit kind, the library comes out static or shared depending on whether "
         "BUILD_SHARED_LIBS is switched on.",
         G(ADDLIB, 1, "If no type is given explicitly")),
       S("A MODULE is meant as a plugin: nothing links against it, and it gets opened at run time through "
         "something like dlopen.",
         G(ADDLIB, 1, "MODULE libraries are plugins")),
       S("Code that exports no symbols at all, say a resource-only DLL, has to become a MODULE, since CMake "
         "assumes that any SHARED target comes with an import library when building for Windows.",
         G(ADDLIB, 2, "If a library does not export any symbols", "For example, a Windows resource DLL",
           "This is because CMake expects")),
       X("Position-independent code is switched on automatically for STATIC targets only.",
         "entity", G(ADDLIB, 2, "For SHARED and MODULE libraries"))]),

    C("cmake-prefix-path", "hedged",
      "My library is installed in /opt/mylib and find_package() cannot find it. What should I set?",
      [(DEPS, [7, 8, 9, 10, 11, 12])],
      [S("According to the guide, CMAKE_PREFIX_PATH is treated as a list of base paths in which to search for "
         "config files.",
         G(DEPS, 9, "It is treated as a list")),
       S("The guide's example is a package installed in /opt/somepackage, in which case /opt/somepackage itself should "
         "be added to CMAKE_PREFIX_PATH.",
         G(DEPS, 9, "A package installed in /opt/somepackage", "In that case, /opt/somepackage")),
       X("It also says that the CMAKE_PREFIX_PATH environment variable is ignored, so prefixes have to be given "
         "on the command line.",
         "negation", G(DEPS, 9, "The environment variable CMAKE_PREFIX_PATH")),
       S("Apparently CMAKE_PREFIX_PATH is not searched for Find<PackageName>.cmake files at all; CMake looks for "
         "those in CMAKE_MODULE_PATH instead.",
         G(DEPS, 11, "CMake does not search the locations", "Instead, CMake searches"))]),

    C("cmake-minimum-required-policies", "close",
      "Where should cmake_minimum_required() go, and what does it do to policies?",
      [(MINREQ, [0, 1, 2, 3]), (POLICY, [1, 2])],
      [S("Call the cmake_minimum_required() command at the beginning of the top-level CMakeLists.txt file, even "
         "before calling the project() command.",
         G(MINREQ, 1, "Note Call the cmake_minimum_required()")),
       S("The cmake_minimum_required(VERSION) command implicitly invokes the cmake_policy(VERSION) command, and "
         "all policies introduced in the <min> version or earlier will be set to use NEW behavior.",
         G(MINREQ, 2, "Policy Settings ¶ The cmake_minimum_required(VERSION)", "All policies known to the running")),
       X("Functions introduce their own policy scope, so calling cmake_minimum_required() inside a function() "
         "leaves the caller's policy settings untouched.",
         "negation", G(MINREQ, 2, "Functions do not introduce their own policy scope")),
       X("If the running version of CMake is older than 3.15, the extra ... dots will be seen as version "
         "component separators.",
         "version", G(MINREQ, 1, "If the running version of CMake is older"),
         G(POLICY, 2, "If the running version of CMake is older"))]),

    C("cmake-find-package-version-range", "heavy",
      "How do I ask find_package() for any release from 1.2 up to, but not including, 2.0?",
      [(FIND, [7, 8, 9, 10, 11, 12])],
      [S("You can ask for a span such as 1.2...<2.0; without the < in front of the upper bound, both ends "
         "count as acceptable.",
         G(FIND, 9, "A version range with the format", "By default, both end points", "By specifying <")),
       S("Demanding an exact match cannot be combined with a span.",
         G(FIND, 9, "The EXACT option requests", "This option is incompatible")),
       S("A package written to expect one number simply disregards the top of the span and checks only its "
         "bottom.",
         G(FIND, 10, "When a version range is specified")),
       X("A plain single version may have at most three numeric parts.",
         "number", G(FIND, 8, "There are two possible forms")),
       U("When a span is given, CMake picks the newest installed release inside it, even if an older one comes "
         "first in the search path.", "invented")]),

    C("cmake-alias-targets", "joined",
      "What can I do with an ALIAS target such as MyLib::MyLib, and what can't I do with it?",
      [(ADDLIB, [7, 8, 9, 10, 11, 12])],
      [S("add_library(<name> ALIAS <target>) creates an alias that later commands can use to refer to the "
         "target, and the alias name never shows up as a make target in the generated buildsystem.",
         G(ADDLIB, 11, "Alias Libraries ¶", "The <name> does not appear")),
       S("An ALIAS can be linked against and have its properties read, and you can check that it exists with "
         "if(TARGET).",
         G(ADDLIB, 12, "ALIAS targets can be used as linkable", "They can also be tested")),
       X("Aliases of GLOBAL imported targets have been allowed since 3.11, and aliases of non-GLOBAL imported "
         "targets since 3.15.",
         "version", G(ADDLIB, 11, "New in version 3.11: An ALIAS can target")),
       U("The alias name cannot be used to modify the target's properties, and CMake warns at configure time "
         "whenever two aliases point at the same target.", "invented"),
       X("An ALIAS target can be installed and exported like the target it points to, and its <target> may itself "
         "be another ALIAS.",
         "negation", G(ADDLIB, 12, "The <name> may not be used to modify"), G(ADDLIB, 11, "The <target> may not be"))]),

    C("cmake-fetchcontent-find-package", "list",
      "Can FetchContent use an installed copy of a dependency when there is one and build it from source "
      "otherwise?",
      [(DEPS, [15, 16, 17, 18, 19, 20])],
      [S("FetchContent_Declare() accepts a dependency either way through FIND_PACKAGE_ARGS, and a few settings "
         "control the behaviour:",
         G(DEPS, 17, "The project can indicate it is happy")),
       S("With FIND_PACKAGE_ARGS, FetchContent_MakeAvailable() first tries find_package() with the arguments "
         "after that keyword, and builds from source only if that fails.",
         G(DEPS, 17, "This allows FetchContent_MakeAvailable()", "If that doesn't find the dependency")),
       S("FETCHCONTENT_TRY_FIND_PACKAGE_MODE set to NEVER disables all redirection to find_package().",
         G(DEPS, 18, "This can be set to NEVER")),
       X("EXCLUDE_FIND_PACKAGE on FetchContent_Declare() forces a dependency to be built from source and sends "
         "find_package() calls for it to FetchContent_MakeAvailable().",
         "option", G(DEPS, 19, "The project can enforce this")),
       U("The sources are downloaded at configure time into _deps/ under the build directory.", "general")]),
]
