"""Cases cut from python-celery-doc (HTML under /usr/share/doc/python-celery-doc/html/), in writing order."""

from build_families_b import C, G, S, U, X

CA = "userguide/calling.html"
TK = "userguide/tasks.html"
WK = "userguide/workers.html"

CASES = [
    C("celery-delay-vs-apply-async", "moderate",
      "What is the difference between delay() and apply_async() in Celery, and how do I schedule a task for "
      "later?",
      [(CA, [0, 1, 2, 3, 4])],
      [S("delay() is just a shortcut that forwards its star arguments to apply_async().",
         G(CA, 1, "Quick Cheat Sheet")),
       S("It reads like a plain function call, but as soon as you need execution options you have to switch "
         "to apply_async().",
         G(CA, 1, "Example ¶ The delay() method"), G(CA, 2, "So delay is clearly convenient")),
       S("T.apply_async(countdown=10) runs the task ten seconds from now, and an eta datetime does the same "
         "with an absolute time.", G(CA, 1, "T.apply_async((arg,)", "T.apply_async(eta=now")),
       X("T.apply_async(countdown=60, expires=120) runs the task in one minute and expires it after 20 "
         "minutes.", "number", G(CA, 1, "T.apply_async(eta=now")),
       U("Both calls return an AsyncResult that you can use to wait for the task's return value.", "general")]),

    C("celery-publish-retry-policy", "close",
      "What happens when Celery cannot reach the broker while sending a task, and how is the retry policy "
      "set?",
      [(CA, [7, 8, 9, 10, 12])],
      [S("Celery will automatically retry sending messages in the event of connection failure, and the retry "
         "behavior can be configured or disabled all together.", G(CA, 9, "Message Sending Retry")),
       X("To disable retry you can set the retry_policy execution option to False.", "option",
         G(CA, 9, "To disable retry")),
       S("max_retries is the maximum number of retries before giving up, and the default is to retry 3 times.",
         G(CA, 9, "To disable retry", "The default is to retry 3 times")),
       X("interval_start defaults to 1, so the first retry waits one second.", "default",
         G(CA, 10, "Default is 0 (the first retry")),
       S("The default policy is set relatively short because a connection failure could lead to a retry pile "
         "effect if the broker connection is down.", G(CA, 10, "It’s set relatively short"))]),

    C("celery-task-retry", "heavy",
      "How does self.retry() work in a Celery task, and how long does it wait before the next attempt?",
      [(TK, [17, 18, 19, 20, 21])],
      [S("Calling it publishes a fresh message that keeps the original task id and goes back onto the queue "
         "the first attempt came from.", G(TK, 17, "When you call retry")),
       S("Each new attempt also shows up as a state on the result object, so progress stays observable.",
         G(TK, 17, "When a task is retried")),
       X("Unless told otherwise, the pause before the next attempt is 30 seconds.", "number",
         G(TK, 20, "By default this is set to 3 minutes")),
       S("Passing countdown when you call it replaces that pause, which is measured in seconds and may be a "
         "float.", G(TK, 20, "Note that the unit", "You can also provide the countdown"))]),

    C("celery-retry-backoff", "hedged",
      "How do I make a Celery task retry automatically with exponential backoff, and what are the defaults?",
      [(TK, [21, 22, 23, 24, 25, 26])],
      [S("According to the documentation, tasks only retry on their own for the exception classes listed in "
         "autoretry_for; by default no exceptions are autoretried.",
         G(TK, 23, "If any of these exceptions", "By default, no exceptions")),
       S("The docs say that with retry_backoff=True the first retry waits 1 second, the second 2 seconds, the "
         "third 4 and the fourth 8.", G(TK, 23, "If this option is set to True", "The first retry will have")),
       X("As documented, retry_backoff_max caps the delay at 300 seconds, which is 5 minutes.", "number",
         G(TK, 24, "By default, this option is set to 600")),
       X("According to the documentation, retry_jitter is off by default, so the computed delays are used "
         "exactly.", "default", G(TK, 25, "By default, this option is set to True")),
       S("The docs add that a number instead of True is used as a delay factor: with 3, the retries wait 3, 6, "
         "12 and 24 seconds.",
         G(TK, 23, "If this option is set to a number"), G(TK, 24, "For example, if this option is set to 3"))]),

    C("celery-time-limits", "list",
      "How do Celery's soft and hard time limits work?",
      [(WK, [13, 14, 15, 16, 17, 18])],
      [S("--time-limit is the maximum number of seconds a task may run before the process executing it is "
         "terminated and replaced by a new process.", G(WK, 14, "The time limit ( –time-limit )")),
       S("--soft-time-limit raises SoftTimeLimitExceeded inside the task, which it can catch to clean up before "
         "the hard limit kills it.", G(WK, 15, "You can also enable a soft time limit")),
       S("task_time_limit and task_soft_time_limit set the same limits in the configuration.",
         G(WK, 15, "You can also enable a soft time limit")),
       X("The gevent pool implements soft time limits but not hard ones.", "negation",
         G(WK, 15, "Note The gevent pool does not")),
       U("Time limits are enforced with SIGALRM, so they work on Windows as well.", "invented")],
      lead="Celery has two kinds of time limit:"),

    C("celery-stop-restart-worker", "joined",
      "How should I stop or restart a Celery worker without losing tasks?",
      [(WK, [1, 2, 3, 4, 5, 6])],
      [S("You shut a worker down with the TERM signal, and it then finishes all the tasks it is currently "
         "executing before it actually terminates.",
         G(WK, 2, "Stopping the worker ¶ Shutdown", "When shutdown is initiated")),
       S("KILL forces a stuck worker to stop, but the tasks it is executing are lost unless they have the "
         "acks_late option set.", G(WK, 2, "If the worker won’t shutdown")),
       S("A worker can also restart itself on HUP, although this is prone to problems, is not recommended in "
         "production and is disabled on macOS.",
         G(WK, 4, "Other than stopping", "Note that the worker will be responsible",
           "HUP is disabled on macOS")),
       X("QUIT asks for a warm shutdown that waits for running tasks, while TERM is the cold shutdown that "
         "terminates them at once.", "entity", G(WK, 4, "Process Signals ¶", "QUIT Cold shutdown"))]),

    C("celery-serializers", "hedged",
      "Which serializer does Celery use for task messages, and what are the trade-offs of JSON?",
      [(CA, [12, 13, 14, 15, 16])],
      [S("According to the documentation, the default serializer is JSON, and you can change it with the "
         "task_serializer setting, per task, or even per message.", G(CA, 12, "The default serializer is JSON")),
       S("The docs note that JSON limits you to strings, Unicode, floats, Booleans, dictionaries and lists, so "
         "decimals and dates are missing.",
         G(CA, 13, "The primary disadvantage to JSON", "Decimals and dates are notably missing")),
       X("They also say binary data is sent Base64-encoded, which makes it about 43% larger.", "number",
         G(CA, 13, "Binary data will be transferred")),
       U("According to the docs, the pickle serializer has been removed from Celery 5 for security reasons.",
         "invented")]),

    C("celery-revoke", "heavy",
      "How do I cancel a Celery task that has already been sent, and does the cancellation survive a worker "
      "restart?",
      [(WK, [10, 11, 12, 13, 14])],
      [S("A revoked id makes workers drop that job when it arrives, yet one that has started keeps running "
         "unless you also ask for termination.", G(WK, 11, "When a worker receives a revoke request")),
       S("Killing the child process that way is meant as a last resort for stuck work, never something to "
         "call from code, since that process may already be busy with another job.",
         G(WK, 11, "Note The terminate option", "It’s not for terminating the task")),
       S("Workers only remember revocations in memory, so once all of them restart the list is gone; pointing "
         "--statedb at a file keeps it.",
         G(WK, 13, "The list of revoked tasks is in-memory", "If you want to preserve this list")),
       X("Revocation is handled over HTTP by the result backend rather than sent to workers as a broadcast "
         "message.", "entity", G(WK, 13, "'7993b0aa")),
       U("The inspect revoked command lists the ids a worker currently holds in that list.", "general")]),

    C("celery-concurrency-autoscale", "joined",
      "How many worker processes does Celery start by default, and can it grow and shrink the pool with the "
      "load?",
      [(WK, [6, 7, 17, 18, 19])],
      [S("--concurrency sets the number of worker processes or threads and defaults to the number of CPUs "
         "available, and adding processes helps only up to a point after which performance gets worse.",
         G(WK, 6, "The number of worker processes", "Number of processes")),
       S("--autoscale takes the maximum and the minimum number of pool processes, so --autoscale=10,3 always "
         "keeps 3 processes and grows to 10 when there is work.",
         G(WK, 18, "It’s enabled by the --autoscale option", "Example: --autoscale=10,3")),
       X("Autoscaling has been available since version 4.0 and works with the prefork and gevent pools, and "
         "you can plug in your own rules by subclassing Autoscaler.", "version",
         G(WK, 18, "Autoscaling ¶ New in version 2.2")),
       U("The autoscaler checks the load every 30 seconds, and it never shrinks the pool while tasks are still "
         "waiting in the queue.", "invented")]),

    C("celery-rate-limits", "list",
      "How do Celery rate limits work for a task?",
      [(TK, [24, 25, 26, 27, 28]), (WK, [16])],
      [S("rate_limit=\"100/m\" allows a hundred tasks a minute and enforces a minimum delay of 600ms between "
         "starting two tasks on the same worker instance.", G(TK, 28, "Example: “100/m”", "This will enforce")),
       S("A plain integer or float is read as tasks per second, and \"/s\", \"/m\" or \"/h\" select seconds, "
         "minutes or hours.", G(TK, 28, "If it is an integer or float", "The rate limits can be specified")),
       X("The limit is global across all workers, so it caps the whole cluster.", "negation",
         G(TK, 28, "Note that this is a per worker instance")),
       S("Tasks still complete while a rate limit is in effect, but they may wait before they are allowed to "
         "start.", G(TK, 27, "Tasks will still complete")),
       U("Rate-limited tasks are rejected with a RateLimitExceeded error once the limit is reached.",
         "invented")],
      lead="Per-task rate limits in short:"),
]
