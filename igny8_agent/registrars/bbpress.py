"""bbPress 2.6: forums, topics, replies and topic tags, registered in PHP on
every request (``bbPress::register_post_types()``); nothing is stored."""

from __future__ import annotations

from igny8_agent.registrars import Found, Known, SiteContext

NAME = "bbpress"
PLUGINS = ("bbpress/bbpress.php",)
OPTIONS = ()


def register(site: SiteContext) -> Found:
    return Found(
        {
            "forum": Known("Forums", True, NAME),
            "topic": Known("Topics", True, NAME),
            "reply": Known("Replies", True, NAME),
        },
        {"topic-tag": Known("Topic Tags", True, NAME)},
    )
