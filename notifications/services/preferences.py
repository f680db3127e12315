"""Why a notification is skipped rather than sent: one wording, checked at acceptance and at delivery."""

NO_PUSH_DEVICE = "the user has no active push device"


def channel_disabled_reason(*, channel: str, preferences: dict[str, bool]) -> str:
    """The reason the user's preferences skip this channel, or "" when they allow it."""
    return "" if preferences.get(channel, True) else f"the user has disabled {channel} notifications"
