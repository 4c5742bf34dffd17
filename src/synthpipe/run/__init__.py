"""The application: the Pipeline facade, recipes, estimates and dry runs, one-shot commands.

It stands on every other package (executors, evaluate, report, audit, pipeline, llm); nothing
below imports it. The CLI is a thin layer over it.
"""
