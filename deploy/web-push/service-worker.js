// The service worker of deploy/web-push/index.html: shows each push notifier sends through Web Push.
// The payload is {notification_id, title, body, image, link, data} (notifications/providers/web_push.py).
self.addEventListener("push", (event) => {
  const push = event.data ? event.data.json() : {};
  event.waitUntil(
    self.registration.showNotification(push.title || "Notification", {
      body: push.body || "",
      image: push.image || undefined,
      tag: push.notification_id,
      data: { link: push.link, ...push.data },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const link = event.notification.data && event.notification.data.link;
  if (link) event.waitUntil(clients.openWindow(link));
});
