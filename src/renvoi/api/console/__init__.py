"""The customers' web console (``contract/console.md``): server-rendered pages at
``/console/`` on the API's app, calling the same checks and transactions as the API.
"""
