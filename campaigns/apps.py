from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.limits import sends_this_month
        from mailcrm.usage import register_counter

        register_counter("monthly_sends", sends_this_month)
