from mailcrm.models import Workspace

# The navigation entry a page belongs to, by the prefix of its URL name.
NAV_SECTIONS = (
    ("home", "home"),
    ("contact", "contacts"),
    ("tag", "tags"),
    ("list", "lists"),
    ("propert", "properties"),
)


def _nav_section(request) -> str:
    match = getattr(request, "resolver_match", None)
    name = match.url_name if match else ""
    return next((section for prefix, section in NAV_SECTIONS if name.startswith(prefix)), "")


def workspace(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": getattr(request, "membership", None),
        "user_workspaces": Workspace.objects.for_user(user),
        "nav_section": _nav_section(request),
    }
