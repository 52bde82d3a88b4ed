from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Messages and prompts"

    def ready(self):
        # diaries runs these after its writes commit and imports nothing of notifications. Only
        # cancelling tonight's reminders runs at once; re-planning is a task.
        from diaries import diary, participants, treatment
        from notifications import tasks
        from notifications.scheduling import planner

        for hooks, hook in (
            (diary.after_answer_hooks, planner.cancel_done_diary_prompts),
            (participants.after_participant_change_hooks, tasks.replan_after_change),
            (treatment.after_treatment_hooks, tasks.replan_after_treatment),
        ):
            if hook not in hooks:
                hooks.append(hook)
