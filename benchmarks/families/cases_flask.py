"""Cases cut from python-flask-doc (HTML under /usr/share/doc/python-flask-doc/html/), in writing order."""

from build_families_b import C, G, S, U, X

CF = "config.html"
AC = "appcontext.html"
BP = "blueprints.html"
SV = "server.html"
AS = "async-await.html"
TS = "testing.html"

CASES = [
    C("flask-config-env", "close",
      "How can I load Flask configuration from environment variables, and how are the values parsed?",
      [(CF, [13, 14, 15, 16, 17, 18])],
      [S("Flask can load all environment variables starting with a specific prefix into the config using "
         "from_prefixed_env().", G(CF, 15, "Flask can be instructed")),
       S("The prefix is FLASK_ by default, which is configurable via the prefix argument.",
         G(CF, 15, "Environment variables can be set"), G(CF, 16, "This is configurable via the prefix")),
       S("By default json.loads() is used to parse the values, so any valid JSON value is possible, including "
         "lists and dicts.", G(CF, 16, "Values will be parsed", "By default json.loads() is used")),
       X("When adding a boolean value, only \"True\" and \"False\", capitalised, are valid values.", "entity",
         G(CF, 16, "When adding a boolean value"))]),

    C("flask-app-context-error", "moderate",
      "I get \"RuntimeError: Working outside of application context\" when I initialise an extension in my app "
      "factory. What does it mean and how do I fix it?",
      [(AC, [0, 1, 2, 3, 4, 5])],
      [S("The error means that code used current_app, or something built on it, while no application context "
         "was active.", G(AC, 2, "Manually Push a Context ¶ If you try")),
       S("Because the factory already holds the app object, you can push a context yourself: wrap the setup in "
         "a with app.app_context() block and everything inside it can use current_app.",
         G(AC, 2, "If you see that error while configuring"), G(AC, 3, "Use app_context() in a with block")),
       X("Flask only pushes an application context by itself while handling requests, not when it runs CLI "
         "commands registered with @app.cli.command().", "negation",
         G(AC, 1, "Flask will also automatically push")),
       U("Setting FLASK_PUSH_CONTEXT=1 in the environment makes Flask push a context at import time instead.",
         "invented")]),

    C("flask-session-cookie-flags", "heavy",
      "Which settings control the security flags of Flask's session cookie, and what are their defaults?",
      [(CF, [3, 4, 5, 6, 7, 8])],
      [S("Out of the box Flask stops scripts running in the page from reading that cookie, since the HttpOnly "
         "setting starts enabled.",
         G(CF, 5, "Default: None SESSION_COOKIE_HTTPONLY", "Default: True SESSION_COOKIE_SECURE")),
       S("SESSION_COOKIE_SECURE, which keeps browsers from sending it over plain HTTP, is off unless you change "
         "it, and enabling it is only sensible when the site itself runs on HTTPS.",
         G(CF, 5, "Default: True SESSION_COOKIE_SECURE"),
         G(CF, 6, "The application must be served", "Default: False SESSION_COOKIE_SAMESITE")),
       X("Cross-site sending is already limited for you, because SESSION_COOKIE_SAMESITE ships set to 'Lax'.",
         "default", G(CF, 6, "Default: None New in version 1.0")),
       X("A permanent session stays valid for 14 days unless PERMANENT_SESSION_LIFETIME says otherwise.",
         "number", G(CF, 6, "Default: timedelta(days=31)"))]),

    C("flask-blueprint-static-templates", "hedged",
      "How do static files and templates work for a Flask blueprint?",
      [(BP, [5, 6, 7, 8, 9, 10])],
      [S("According to the documentation, a blueprint's static folder is served at the blueprint's url_prefix "
         "plus /static, so with the prefix /admin it appears at /admin/static.",
         G(BP, 7, "Because the folder is called static", "If the blueprint has the prefix /admin")),
       S("The docs point out that without a url_prefix the blueprint's static folder cannot be reached at all, "
         "because the application's own /static route takes precedence.",
         G(BP, 7, "You can generate URLs to it"), G(BP, 8, "This is because the URL would be")),
       S("As the documentation describes it, the blueprint's template folder joins the template search path "
         "with a lower priority than the application's, so the application can override a blueprint's "
         "templates.", G(BP, 8, "The template folder is added", "That way you can easily override")),
       X("According to the docs, when several blueprints provide the same template path, the last blueprint "
         "registered takes precedence.", "entity", G(BP, 9, "When multiple blueprints provide")),
       U("The documentation also states that browsers cache files from a blueprint's static folder for 12 hours "
         "by default.", "invented")]),

    C("flask-dev-server", "list",
      "How do I run Flask's development server, and what if the port is taken?",
      [(SV, [0, 1, 2, 3]), (CF, [1, 2])],
      [S("flask run --help shows the available options for starting the server.",
         G(SV, 1, "Use flask run --help")),
       S("--port 5001 picks a different port when another program already uses port 5000.",
         G(SV, 1, "Address already in use ¶ If another program", "It may have one of the following")),
       X("macOS Big Sur and later starts a service on port 5000 (the AirPlay Receiver), which you can switch "
         "off under Sharing.", "version", G(SV, 2, "The following example shows")),
       S("app.run(debug=True) starts the server from Python code, but put the call in a main block so that it "
         "does not interfere with a production server later.",
         G(SV, 3, "The main difference from the CLI", "Place the call in a main block")),
       U("In production, run the app with a WSGI server such as Gunicorn or Waitress instead.", "general")],
      lead="Running the development server:"),

    C("flask-nested-blueprints", "joined",
      "If I nest one blueprint inside another, how are names, URLs and error handlers combined?",
      [(BP, [3, 4, 5, 10, 11, 12])],
      [S("A child blueprint registered on a parent gains the parent's name as a prefix to its own name, and its "
         "URLs are prefixed with the parent's URL prefix, so url_for('parent.child.create') gives "
         "/parent/child/create.", G(BP, 5, "Nesting Blueprints ¶ It is possible")),
       S("Before-request functions registered on the parent also run for the child, and when the child has no "
         "error handler for an exception, the parent's handler is tried.",
         G(BP, 5, "Nesting Blueprints ¶ It is possible", "If a child does not have")),
       X("The blueprint's name is also added to the URL, so a blueprint named admin serves its routes under "
         "/admin even without a url_prefix.", "negation", G(BP, 3, "The blueprint’s name does not modify")),
       S("A blueprint's 404 and 405 handlers only run when one of its own views raises the error or calls "
         "abort, because the blueprint does not own a URL space that Flask could match an invalid URL to.",
         G(BP, 11, "These errorhandlers are only invoked", "This is because the blueprint does not")),
       U("Nesting works up to three levels deep, and the before-request functions of each level run in the "
         "order the blueprints were registered.", "invented")]),

    C("flask-test-client-data", "hedged",
      "How do I send form data, file uploads and JSON with Flask's test client?",
      [(TS, [1, 2, 3, 4, 5, 7])],
      [S("According to the documentation, passing a dict to data sends form data, and the Content-Type header "
         "is then set to multipart/form-data or application/x-www-form-urlencoded automatically.",
         G(TS, 4, "Form Data ¶ To send form data", "The Content-Type header will be set to multipart")),
       S("The docs say that a file object opened for reading bytes (\"rb\" mode) is treated as an uploaded "
         "file, and that a (file, filename, content_type) tuple changes the detected filename and content "
         "type.", G(TS, 4, "If a value is a file object", "To change the detected filename")),
       X("As documented, the file objects stay open after the request, so you should still use the usual with "
         "open() as f: pattern.", "negation", G(TS, 4, "File objects will be closed")),
       S("For JSON, the documentation says to pass an object to json, which sets the Content-Type header to "
         "application/json, and response.json then holds the deserialized response.",
         G(TS, 5, "It can be useful to store files", "The Content-Type header will be set",
           "Similarly, if the response contains")),
       U("The documentation also mentions that uploads sent this way are limited to 16 MB unless "
         "MAX_CONTENT_LENGTH is raised.", "invented")]),

    C("flask-async-views", "heavy",
      "Will making my Flask views async let the server handle more requests, and can I start background tasks "
      "from them?",
      [(AS, [0, 1, 2, 3, 4, 5])],
      [S("No: an async view still occupies a whole worker until its response is done, since Flask runs the "
         "coroutine in an event loop that it starts in a thread.",
         G(AS, 1, "When a request comes in to an async view", "Each request still ties up")),
       S("Starting work with asyncio.create_task inside a view is not supported; a job queue is the "
         "recommended home for anything that should keep running afterwards.",
         G(AS, 3, "Therefore you cannot spawn", "If you wish to use background tasks")),
       X("On Windows, the asyncio bug behind the set_wakeup_fd error affects Python 3.9, so moving to 3.10 "
         "fixes it.", "version", G(AS, 1, "Using async on Windows", "If you encounter")),
       U("Quart, the ASGI sibling of Flask, is maintained under the Pallets organisation too.", "general")]),

    C("flask-instance-folder", "joined",
      "Where does Flask look for the instance folder, and how do I load a config file from it?",
      [(CF, [19, 20, 21, 22, 23, 24])],
      [S("You can pass the instance folder as instance_path when you create the app, in which case the path "
         "must be absolute, and if you leave it out an uninstalled module or package gets a folder named "
         "instance next to it.",
         G(CF, 23, "For explicit configuration use", "If the instance_path parameter is not provided")),
       S("With instance_relative_config=True, relative file names used to load configuration are resolved "
         "against the instance folder rather than the application root, and from_pyfile('application.cfg', "
         "silent=True) then overrides the defaults only if that file exists.",
         G(CF, 24, "The behavior of relative paths")),
       X("An installed package gets $PREFIX/var/myapp-instance as its instance folder, and Flask.open_resource() "
         "opens files inside it.", "option", G(CF, 24, "Flask also provides a shortcut")),
       U("Flask creates the instance folder automatically on first start, and it gives the folder the "
         "permissions 0700.", "invented")]),

    C("flask-testing-contexts-cli", "list",
      "How do I test code that needs an app context, a request context, or a CLI command?",
      [(TS, [7, 8, 9, 10, 1, 2])],
      [S("runner.invoke() calls a command in the same way the flask command would call it from the command "
         "line.", G(TS, 8, "Use the runner")),
       S("app.app_context() in a with block pushes an application context, which database extensions usually "
         "need for their queries.", G(TS, 9, "Use with app.app_context()", "For example, database extensions")),
       S("app.test_request_context() pushes a request context and takes the same arguments as the test "
         "client's request methods.", G(TS, 9, "For example, database extensions", "It takes the same")),
       X("A test request context runs Flask's dispatching code, so your before_request functions are called "
         "for you.", "negation", G(TS, 9, "Creating a test request context")),
       U("result.exit_code is always 0 for commands invoked through the runner, even when they raise.",
         "invented")],
      lead="For code that needs a context or a CLI command in tests:"),
]
