"""Journeys the tests share."""

# The demo's login as a scenario's `journey:` block: two actions, the second ends on the dashboard.
LOGIN_JOURNEY = """
journey:
  - action: Opening the login page
    steps:
      - goto: /login
  - action: Logging in
    steps:
      - fill: "#email"
        value: "{{ username }}"
      - fill: "#password"
        value: "{{ password }}"
      - click: "#login"
      - expect_url: "**/dashboard"
      - expect_text: Welcome
"""
