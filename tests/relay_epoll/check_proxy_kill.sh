#!/bin/sh
# tests/integration/check_proxy_kill with the relay forced onto epoll (relay_io = "epoll" through MYPROXY_TEST_RELAY_IO):
# the io_uring relay's fallback, run in both builds beside the suite on the ring (Makefile.am).
MYPROXY_TEST_RELAY_IO=epoll exec ./tests/integration/check_proxy_kill "$@"
