from templates.models import EmailTemplate


def template(workspace, name: str, subject: str, html: str = "") -> EmailTemplate:
    return EmailTemplate.objects.create(
        workspace=workspace,
        name=name,
        subject=subject,
        html=html or f"<html><body><p>{subject}</p></body></html>",
        from_email="hello@acme.io",
        from_name="Acme",
    )
