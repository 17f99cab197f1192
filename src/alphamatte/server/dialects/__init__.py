"""The two API dialects' requests, read as their clients send them: withoutbg's
(:mod:`.withoutbg`) and remove.bg's (:mod:`.removebg`). Their routes are
``server/routes/withoutbg.py`` and ``server/routes/removebg.py``; their error shapes live with
the one error mapping in ``server/errors.py``."""
