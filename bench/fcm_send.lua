-- wrk script: FCM v1 sends to the stand-in, to measure what it can answer.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer test-access-token"
wrk.body = '{"message": {"token": "t", "notification": {"title": "a", "body": "b"}, "data": {"notification_id": "capacity"}}}'
