"""What channel adapters raise: reasons are stored and logged, so they never carry an address."""

from notifications.providers.base import PermanentDeliveryError, TransientDeliveryError


def test_a_refusal_quoting_the_recipient_is_stored_without_the_address():
    error = PermanentDeliveryError("recipient refused: 550 5.1.1 <ada.l+x@mail.example.org>: no such user")

    assert error.reason == "recipient refused: 550 5.1.1 <<address>>: no such user"
    assert "example.org" not in str(error)


def test_a_transient_reason_keeps_its_text_and_retry_after():
    error = TransientDeliveryError("451 4.3.0 try again later", retry_after=3.0)

    assert (error.reason, error.retry_after) == ("451 4.3.0 try again later", 3.0)
