"""simulate_trial: a whole trial played forward on a controlled clock, through the real paths.

trial.py runs it (the clock loop, the site's work, the beat's tasks, the transfer at the
end); patients.py is who the simulated patients are and what they answer; workers.py is the
Celery worker of `--workers N` and the task that plays the patients' replies on it.
"""
