from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Messages and prompts"

    def ready(self):
        # The diary services call these after commit; diaries never imports notifications.
        from diaries import diary, participants, treatment
        from notifications.scheduling import planner

        for hooks, hook in (
            (diary.after_answer_hooks, planner.cancel_done_diary_prompts),
            (participants.after_participant_change_hooks, planner.replan_after_change),
            (treatment.after_treatment_hooks, planner.replan_after_treatment),
        ):
            if hook not in hooks:
                hooks.append(hook)
