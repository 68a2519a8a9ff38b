"""uxchaos: what do your users live through while part of your system is broken?"""

__version__ = "0.1.0"
