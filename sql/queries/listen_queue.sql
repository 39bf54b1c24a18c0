-- Subscribes this session to the queue's wake-ups (payload: the site with new ready tasks).
-- NOTIFY is sent by the trigger queue.notify_new_tasks, by completions that release waiting
-- tasks, by releases and by queue.retry. Takes no locks.
LISTEN purser_queue
