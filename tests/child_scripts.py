"""Python programs that tests run in a child process (``python -c SCRIPT ...``), written once.

A child resets SIGINT and SIGTERM to Python's defaults first: a pytest started with them ignored
(``nohup pytest … &``, some CI runners) passes that on, and a signal sent to the child would be lost.
"""

#: Runs ``nst_helpers.cli.main`` on each argument list in the JSON file ``argv[1]``; prints, as one
#: JSON line, each one's exit status and standard error, and whether TensorFlow or Keras was imported.
MAIN_FOR_EACH = """
import contextlib, io, json, sys
from nst_helpers.cli import main
results = []
for argv in json.load(open(sys.argv[1])):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    results.append({"code": code, "err": err.getvalue()})
print(json.dumps({"results": results, "tensorflow": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules}))
"""

#: Runs ``nst ARGS`` after ``{patch}``, a fault injected at a chosen moment (``opt`` is
#: ``nst_helpers.optimize``).
DRIVER = """
import os, pathlib, shutil, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
import nst_helpers.optimize as opt
{patch}
from nst_helpers.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: A patch for :data:`DRIVER`: the process sends itself SIGTERM (as ``kill`` or a job scheduler
#: would) once two steps of a run are done.
SIGTERM_DURING_THE_RUN = """
real_record = opt.Loop.record
def record(self, rows):
    real_record(self, rows)
    if self.step >= 2 and not getattr(opt, "_sent", False):
        opt._sent = True
        os.kill(os.getpid(), signal.SIGTERM)
opt.Loop.record = record
"""
