import factory
from factory.django import DjangoModelFactory

from templates_app.models import NotificationType, Template, TemplateVersion


class TemplateFactory(DjangoModelFactory):
    class Meta:
        model = Template

    code = factory.Sequence(lambda n: f"template-{n}")
    language = "en"
    notification_type = NotificationType.EMAIL
    description = "A template for tests"


class TemplateVersionFactory(DjangoModelFactory):
    class Meta:
        model = TemplateVersion

    template = factory.SubFactory(TemplateFactory)
    version = factory.Sequence(lambda n: n + 1)
    subject = "Hello {{name}}"
    body = "Hi {{name}}, welcome."
    html_body = "<p>Hi {{name}}, welcome.</p>"
    variables = factory.LazyFunction(lambda: {"required": ["name"], "optional": []})
