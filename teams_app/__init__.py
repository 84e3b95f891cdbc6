"""The Microsoft Teams app package sources (manifest.json and the two icons), shipped with the wheel.

``jira-cleanup teams-package`` reads them from here, so it works from an installed package.
"""
