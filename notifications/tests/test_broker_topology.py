"""The broker topology as declared, and the broker clients' choice of node, against the real RabbitMQ
(a vhost of the suite's own for the tests that delete queues: notifier_test_topology)."""

import importlib
import logging
import socket
from urllib.parse import urlsplit, urlunsplit

import amqp.exceptions
import kombu
import pytest
from django.conf import settings
from kombu.transport.native_delayed_delivery import declare_native_delayed_delivery_exchanges_and_queues

from notifications.broker.connection import broker_connect
from notifications.channels import CHANNELS, Channel
from notifier.celery import (
    DELAYED_EXCHANGES,
    DELAYED_QUEUES,
    Consumer,
    build_topology,
    delayed_topology_remove,
    topology_declare,
)
from standins.boundary import wait_for


def _vhost_url(vhost: str) -> str:
    parts = urlsplit(settings.CELERY_BROKER_URL.split(";")[0])
    return urlunsplit(parts._replace(path=f"/{vhost}"))


TOPOLOGY_URL = _vhost_url("notifier_test_topology")
ALL_QUEUES = [queue.name for queue in build_topology(delivery_limit=5)[2]] + [
    Channel(c).dlq for c in CHANNELS
]


@pytest.fixture
def empty_vhost():
    """The topology vhost without any of the system's queues or kombu's delayed-delivery topology."""
    with kombu.Connection(TOPOLOGY_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in [*ALL_QUEUES, *DELAYED_QUEUES]:
            channel.queue_delete(name)
        for name in DELAYED_EXCHANGES:
            channel.exchange_delete(name)
    return TOPOLOGY_URL


def _exists(conn: kombu.Connection, name: str, *, exchange: bool = False) -> bool:
    channel = conn.channel()
    try:
        if exchange:
            channel.exchange_declare(name, "topic", passive=True)
        else:
            channel.queue_declare(name, passive=True)
    except amqp.exceptions.NotFound:
        return False
    channel.close()
    return True


def test_every_quorum_queue_has_the_balanced_leader_locator_and_the_group_size(empty_vhost):
    names = topology_declare(broker_url=empty_vhost, delivery_limit=5, group_size=2)

    assert sorted(names) == sorted(ALL_QUEUES)
    _, _, queues, dead_letter_queues = build_topology(delivery_limit=5, group_size=2)
    with kombu.Connection(empty_vhost, connect_timeout=5) as conn:
        for queue in [*queues, *dead_letter_queues]:
            # A queue's arguments show in RabbitMQ's refusal of a declare that differs in one of them.
            for key, other, current in (
                ("x-queue-leader-locator", "client-local", "current is 'balanced'"),
                ("x-quorum-initial-group-size", 3, "current is '2'"),
            ):
                arguments = {**queue.queue_arguments, key: other}
                with pytest.raises(amqp.exceptions.PreconditionFailed) as refused:
                    conn.channel().queue_declare(
                        queue.name, durable=True, auto_delete=False, arguments=arguments
                    )
                assert f"inequivalent arg '{key}'" in str(refused.value)
                assert current in str(refused.value)


def test_the_workers_queues_are_never_declared_by_the_consumer():
    _, _, queues, dead_letter_queues = build_topology(delivery_limit=5)

    assert all(queue.no_declare for queue in [*queues, *dead_letter_queues])


def test_a_queue_declared_by_an_older_version_is_kept_and_still_routed(empty_vhost, caplog):
    with kombu.Connection(empty_vhost, connect_timeout=5) as conn:
        conn.channel().queue_declare(
            "email.queue", durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
        )

    with caplog.at_level(logging.WARNING, logger="notifier.celery"):
        names = topology_declare(broker_url=empty_vhost, delivery_limit=5)

    assert "email.queue" in names
    kept = [record for record in caplog.records if getattr(record, "queue", "") == "email.queue"]
    assert len(kept) == 1
    assert "inequivalent arg" in kept[0].getMessage()
    confirmed = {"confirm_publish": True}
    with kombu.Connection(empty_vhost, connect_timeout=5, transport_options=confirmed) as conn:
        producer = kombu.Producer(conn.channel(), exchange=kombu.Exchange("notifications", type="topic"))
        producer.publish({"probe": 1}, routing_key=Channel.EMAIL.value, retry=False)
        # A quorum queue's count follows the confirm by a moment.
        wait_for(
            lambda: conn.channel().queue_declare("email.queue", passive=True).message_count == 1,
            timeout=5,
            message="the message in the kept queue",
        )
        # Every other queue was declared anew, with the new arguments.
        assert conn.channel().queue_declare("push.queue", passive=True).message_count == 0


def test_the_delayed_delivery_topology_an_older_version_left_is_removed(empty_vhost):
    with kombu.Connection(empty_vhost, connect_timeout=5) as conn:
        declare_native_delayed_delivery_exchanges_and_queues(conn, "quorum")
        assert _exists(conn, "celery_delayed_27")

    delayed_topology_remove(broker_url=empty_vhost)

    with kombu.Connection(empty_vhost, connect_timeout=5) as conn:
        assert not any(_exists(conn, name) for name in DELAYED_QUEUES)
        assert not any(_exists(conn, name, exchange=True) for name in DELAYED_EXCHANGES)


def test_a_delayed_delivery_queue_holding_a_message_is_kept_with_its_exchanges(empty_vhost, caplog):
    with kombu.Connection(empty_vhost, connect_timeout=5) as conn:
        declare_native_delayed_delivery_exchanges_and_queues(conn, "quorum")
        conn.default_channel.basic_publish(amqp.Message(b"x"), exchange="", routing_key="celery_delayed_27")

    with caplog.at_level(logging.WARNING, logger="notifier.celery"):
        delayed_topology_remove(broker_url=empty_vhost)

    with kombu.Connection(empty_vhost, connect_timeout=5) as conn:
        assert _exists(conn, "celery_delayed_27")
        assert not _exists(conn, "celery_delayed_26")
        assert all(_exists(conn, name, exchange=True) for name in DELAYED_EXCHANGES)
    assert any("celery_delayed_27" in record.getMessage() for record in caplog.records)


def test_the_workers_consumer_has_no_delayed_delivery_step():
    steps = Consumer.Blueprint.default_steps

    assert not any("DelayedDelivery" in step for step in steps)
    assert "celery.worker.consumer.tasks:Tasks" in steps
    assert settings.CELERY_WORKER_CONSUMER == "notifier.celery:Consumer"


@pytest.mark.workers
def test_running_workers_declare_no_delayed_delivery_queue(pipeline):
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        assert conn.channel().queue_declare("email.queue", passive=True).consumer_count >= 1
        assert not _exists(conn, "celery_delayed_0")
        assert not _exists(conn, "celery_delayed_delivery", exchange=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_connection_skips_a_node_that_is_down_without_a_pause():
    live = urlsplit(settings.CELERY_BROKER_URL.split(";")[0])
    dead = urlunsplit(live._replace(netloc=f"guest:guest@127.0.0.1:{_closed_port()}"))
    connection = kombu.Connection(f"{dead};{dead};{urlunsplit(live)}", connect_timeout=2)
    try:
        broker_connect(connection, timeout=2)
        assert connection.connected
        assert connection.port == live.port
    finally:
        connection.release()


def test_a_connection_to_nodes_that_are_all_down_fails():
    dead = f"amqp://guest:guest@127.0.0.1:{_closed_port()}//"
    connection = kombu.Connection(f"{dead};{dead}", connect_timeout=2)
    with pytest.raises(kombu.exceptions.OperationalError):
        broker_connect(connection)


def test_each_process_shuffles_the_node_list(monkeypatch):
    import notifier.settings.celery as celery_settings

    nodes = [f"amqp://guest:guest@node{n}:5672//" for n in (1, 2, 3)]
    monkeypatch.setenv("CELERY_BROKER_URL", " ; ".join(nodes))
    try:
        orders = []
        for _ in range(40):
            module = importlib.reload(celery_settings)
            orders.append(module.CELERY_BROKER_URL.split(";"))
    finally:
        monkeypatch.undo()
        importlib.reload(celery_settings)

    assert all(sorted(order) == nodes for order in orders)
    # Each node comes first for some process (40 shuffles miss one with a chance of 3 * (2/3)^40).
    assert {order[0] for order in orders} == set(nodes)
    assert celery_settings.CELERY_BROKER_FAILOVER_STRATEGY == "round-robin"
