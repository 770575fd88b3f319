"""Cloud offload: bulk reminders handed to cloud workers, their callbacks,
and certificates made locally.

contract.py builds the jobs, submit.py hands them over (HTTP or SQS), tracking.py keeps them in
the state database, callbacks.py and server.py take the workers' answers, fallback.py mails over
SMTP when the cloud cannot, reminders.py ties these together, certificate.py makes the PDF.
"""
