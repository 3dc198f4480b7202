"""Cases cut from golang-1.19-doc (the Go specification and memory model, HTML under
/usr/share/doc/golang-1.19-doc/html/), in writing order."""

from build_families_b import C, G, S, U, X

SP = "go_spec.html"
MM = "go_mem.html"

CASES = [
    C("go-maps", "close",
      "What key types can a Go map have, and what is special about a nil map?",
      [(SP, [47, 48, 49, 50, 51])],
      [S("The comparison operators == and != must be fully defined for operands of the key type, so the key "
         "type must not be a function, map, or slice.", G(SP, 48, "The comparison operators == and !=")),
       S("The value of an uninitialized map is nil, and a nil map is equivalent to an empty map except that no "
         "elements may be added.", G(SP, 48, "The value of an uninitialized map"),
         G(SP, 49, "A nil map is equivalent")),
       S("make takes the map type and an optional capacity hint, and the initial capacity does not bound its "
         "size.", G(SP, 49, "A new, empty map value is made")),
       X("Elements may be added with assignments and removed with the built-in function remove.", "option",
         G(SP, 49, "Elements may be added during execution")),
       U("Assigning a map to another variable does not copy its elements; both variables refer to the same "
         "map.", "general")]),

    C("go-channels", "list",
      "What are the rules for buffered channels and for closing a channel in Go?",
      [(SP, [49, 50, 51, 210, 211])],
      [S("A capacity of zero or none gives an unbuffered channel, on which communication succeeds only when a "
         "sender and a receiver are both ready.", G(SP, 51, "If the capacity is zero or absent")),
       S("close(ch) records that no more values will be sent, and calling it on a receive-only channel is an "
         "error.", G(SP, 210, "Close For an argument ch", "It is an error if ch")),
       X("Closing a nil channel does not panic; the call is simply ignored.", "negation",
         G(SP, 210, "Closing the nil channel")),
       S("Once a closed channel has been drained, receive operations return the zero value of its element "
         "type without blocking.", G(SP, 210, "After calling close")),
       U("A for range loop over a channel ends when the channel is closed and drained.", "general")],
      lead="The main rules:"),

    C("go-defer", "heavy",
      "When exactly do deferred calls run in Go, and when are their arguments evaluated?",
      [(SP, [206, 207, 208, 209, 222])],
      [S("The arguments of a postponed call are worked out right away, at the point where that line runs; "
         "only invoking it waits.", G(SP, 208, "Each time a \"defer\" statement executes")),
       S("Postponed calls fire just before the enclosing function hands control back, last registered first.",
         G(SP, 208, "Instead, deferred functions are invoked")),
       X("So a loop that defers fmt.Print(i) for i from 0 through 3 outputs 0 1 2 3.", "number",
         G(SP, 209, "(See also the section")),
       S("A postponed closure can see named results, so it may change what the caller receives after return "
         "has assigned them.", G(SP, 208, "That is, if the surrounding function returns"),
         G(SP, 209, "For instance, if the deferred function")),
       U("Since Go 1.14 most of these calls cost about as little as ordinary ones, thanks to open-coded "
         "defers.", "general")]),

    C("go-select", "moderate",
      "How does Go's select statement choose a case when several channels are ready?",
      [(SP, [199, 200, 201, 203, 204])],
      [X("If several communications can go ahead, select takes the first ready case in source order.", "entity",
         G(SP, 201, "If one or more of the communications")),
       S("If none of them is ready, the default case runs when there is one; without it, select blocks until a "
         "communication can proceed.", G(SP, 201, "Otherwise, if there is a default case",
                                         "If there is no default case")),
       S("When select starts, the channel operands and the values to send are evaluated exactly once, in "
         "source order, and their side effects happen whichever case is then picked.",
         G(SP, 200, "Execution of a \"select\" statement"), G(SP, 201, "Any side effects in that evaluation")),
       S("There can be at most one default case, and it may appear anywhere among the cases.",
         G(SP, 200, "There can be at most one default case")),
       U("A common idiom puts a time.After channel in one case to give up after a timeout.", "general")]),

    C("go-const-iota", "hedged",
      "How do untyped constants and iota work in a Go const block?",
      [(SP, [69, 70, 71, 72, 74])],
      [S("According to the spec, within a parenthesized const list the expression list may be left out after "
         "the first entry, which repeats the previous list.",
         G(SP, 71, "For instance, if the expression"), G(SP, 72, "Omitting the list of expressions")),
       S("The spec says this, together with iota, permits light-weight declarations of sequential values.",
         G(SP, 72, "Together with the iota")),
       X("As the spec describes it, a constant declared from a floating-point literal without a type becomes "
         "an int constant when the fractional part is zero.", "default", G(SP, 71, "For instance, if the expression")),
       X("According to the spec, iota is the index of the ConstSpec in its declaration, starting at one.",
         "number", G(SP, 72, "Its value is the index"))]),

    C("go-panic-recover", "joined",
      "How do panic and recover interact with deferred functions in Go?",
      [(SP, [208, 209, 222, 223, 224])],
      [S("A panic stops the function F that raised it and runs the functions F deferred, and then the deferred "
         "calls of each caller run in turn up to the top-level function of the goroutine.",
         G(SP, 222, "Handling panics", "Any functions deferred by F", "Next, any deferred functions")),
       S("If a deferred function that calls recover returns normally, the panicking sequence stops, and the "
         "function that deferred it finishes by returning to its caller.",
         G(SP, 223, "If D returns normally", "Any functions deferred by G before D")),
       X("recover returns the panic value even when a helper called by the deferred function calls it, and it "
         "returns nil only when the goroutine is not panicking.", "negation",
         G(SP, 223, "The return value of recover is nil")),
       U("The net/http server recovers panics in handlers, and it logs them so that one failing request does "
         "not bring down the server.", "general")]),

    C("go-make-append", "list",
      "How do make and append handle length and capacity of slices?",
      [(SP, [214, 215, 216, 217, 218])],
      [S("make([]int, 10, 100) creates a slice with length 10 and capacity 100.",
         G(SP, 215, "For slices and channels, if n is negative")),
       S("If both sizes are constants, n must be no larger than m, and if n is larger than m at run time, a "
         "run-time panic occurs.", G(SP, 215, "If both n and m are provided", "For slices and channels")),
       S("append allocates a new, large enough underlying array only when the capacity of s is too small; "
         "otherwise it re-uses the underlying array.",
         G(SP, 217, "This form appends the bytes", "Otherwise, append re-uses")),
       X("copy returns the number of elements copied, which is the maximum of len(src) and len(dst).", "entity",
         G(SP, 218, "The number of elements copied")),
       U("make also takes a third argument for maps, the maximum number of elements the map may hold.",
         "invented")],
      lead="Slices with make and append:"),

    C("go-memory-channels", "heavy",
      "Which channel operations give happens-before guarantees in the Go memory model?",
      [(MM, [11, 12, 13, 14, 15])],
      [S("A value handed over a channel is ordered ahead of the moment the matching receive finishes, so "
         "anything the sender wrote first is visible to the receiving goroutine.",
         G(MM, 12, "A send on a channel is synchronized", "This program: var c")),
       S("With room for C items, the k-th receive is ordered before the (k+C)-th send completes, which lets "
         "such a channel act as a counting semaphore.", G(MM, 14, "The k th receive", "It allows a counting")),
       X("Swapping the roles so that the sender waits for the receiver gives the same guarantee even when the "
         "channel holds one buffered slot.", "negation", G(MM, 14, "If the channel were buffered")),
       U("The race detector, switched on with -race, reports missing orderings like these while the program "
         "runs.", "general")]),

    C("go-data-races", "joined",
      "What counts as a data race in Go, and what may happen to a program that has one?",
      [(MM, [0, 1, 2, 3, 8])],
      [S("A data race is a write to a memory location that happens concurrently with another read or write to "
         "that same location, unless all the accesses involved are atomic data accesses from sync/atomic.",
         G(MM, 1, "A data race is defined")),
       S("Programs without data races behave as if all the goroutines were multiplexed onto a single "
         "processor, and this property is called DRF-SC.",
         G(MM, 1, "In the absence of data races", "This property is sometimes")),
       S("An implementation may report a race and terminate the program, and otherwise each read of a "
         "word-sized or smaller location must observe a value actually written there, which makes Go more "
         "like Java than C.", G(MM, 2, "An implementation may always react", "Otherwise, each read",
                                "These implementation constraints")),
       X("The formal definition follows the approach of Boehm and Adve's paper published in PLDI 2010, and its "
         "guarantee of sequential consistency for race-free programs is the same as in that work.", "number",
         G(MM, 3, "Memory Model The following formal definition")),
       U("Since Go 1.19 the runtime checks every map access for races, and it aborts the program when it finds "
         "one.", "invented")]),

    C("go-mutex-once", "hedged",
      "What ordering guarantees do sync.Mutex and sync.Once give in the Go memory model?",
      [(MM, [15, 16, 17, 18, 19])],
      [S("According to the memory model, for a sync.Mutex or sync.RWMutex l and n < m, call n of l.Unlock() is "
         "synchronized before call m of l.Lock() returns.", G(MM, 15, "For any sync.Mutex")),
       X("It also says that a successful call to l.TryLock is equivalent to a call to l.RLock.", "option",
         G(MM, 16, "A successful call to l.TryLock")),
       S("The document says many goroutines may call once.Do(f) for the same f, but only one runs f() and the "
         "others block until it has returned.", G(MM, 17, "Multiple threads can execute")),
       S("As the memory model puts it, the completion of f() in once.Do(f) is synchronized before any call of "
         "once.Do(f) returns, so in its twoprint example setup runs exactly once.",
         G(MM, 17, "The completion of a single call", "In this program: var a string")),
       U("The memory model adds that once.Do(f) always runs f on the goroutine that created the Once.",
         "invented")]),
]
