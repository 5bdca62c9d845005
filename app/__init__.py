__version__ = "0.1.0"  # recorded with every run in the experiment log (app/runlog.py)
