"""Real servers for the integration tests, started by session fixtures on free loopback ports.

Each module here is a pytest plugin (``tests/conftest.py`` loads them all) that defines session fixtures
starting one kind of server and stopping it by PID. A server that cannot start fails the test loudly.
"""
