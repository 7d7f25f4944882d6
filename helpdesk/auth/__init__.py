"""Users, roles (admin > supervisor > agent), login with its throttle, API tokens.

`services.py` holds every write (each one `unit_of_work()`); `views.py` the login pages.
"""
