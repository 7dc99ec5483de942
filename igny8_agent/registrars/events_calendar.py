"""The Events Calendar 6.x (``Tribe__Events__Main``): events and event
categories are public; venues and organizers become public only with Events
Calendar Pro; the import records, ignored events and calendar embeds never."""

from __future__ import annotations

from igny8_agent.registrars import Found, Known, SiteContext, plugin_active

NAME = "the-events-calendar"
PLUGINS = ("the-events-calendar/the-events-calendar.php",)
OPTIONS = ()
PRO = ("events-calendar-pro/events-calendar-pro.php",)


def register(site: SiteContext) -> Found:
    pro = plugin_active(PRO, site.active_plugins)
    return Found(
        {
            "tribe_events": Known("Events", True, NAME),
            "tribe_venue": Known("Venues", pro, NAME),
            "tribe_organizer": Known("Organizers", pro, NAME),
            "tribe-ea-record": Known("Aggregator Records", False, NAME),
            "deleted_event": Known("Posts", False, NAME),
            "tec_calendar_embed": Known("Calendar Embeds", False, NAME),
        },
        {"tribe_events_cat": Known("Event Categories", True, NAME)},
    )
