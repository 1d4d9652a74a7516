"""tau2-bench telecom, the simulated user's phone: the tools the *user* runs when the agent
asks ("check your status bar", "toggle airplane mode"), over :class:`TelecomUserDB`.

Names, outputs and state changes follow tau2-bench's ``TelecomUserTools``, including the
network-search rules that decide signal, technology and service after every change. Besides
the @tool methods, the class carries the environment functions tasks name: scenario setup that
breaks the phone (``unseat_sim_card``, ``break_apn_settings``, ``turn_data_off``...) and the
``assert_*`` checks the evaluation runs at the end of an episode.

The user's database is a few dozen fields, so each episode takes a private deep copy of it
(about 0.1 ms) instead of copy-on-write. One deliberate fix: ``connect_vpn`` gives each
connection its own details object; tau2 shares one class-level object, which ``break_vpn``
then degrades for every later connection in the process.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

from orchestra_env.domains.toolkit import ToolKit, tool
from orchestra_env.domains.tau2.telecom.user_data_model import (
    APNNames,
    APNSettings,
    MockPhoneAttributes,
    NetworkModePreference,
    NetworkStatus,
    NetworkTechnology,
    PerformanceLevel,
    SignalStrength,
    SimStatus,
    TelecomUserDB,
    UserSurroundings,
    default_vpn_details,
)

SIGNAL_ICONS = {
    SignalStrength.NONE: "📵 No Signal",
    SignalStrength.POOR: "📶¹ Poor",
    SignalStrength.FAIR: "📶² Fair",
    SignalStrength.GOOD: "📶³ Good",
    SignalStrength.EXCELLENT: "📶⁴ Excellent",
}
# Speed test: (min, max) Mbps per technology, and the fraction of it each signal level gives.
TECH_SPEED_MBPS = {
    NetworkTechnology.TWO_G: (0.1, 0.4),
    NetworkTechnology.THREE_G: (1.0, 5.0),
    NetworkTechnology.FOUR_G: (10.0, 100.0),
    NetworkTechnology.FIVE_G: (50.0, 500.0),
    NetworkTechnology.NONE: (0.0, 0.0),
}
SIGNAL_FACTOR = {
    SignalStrength.NONE: 0.0,
    SignalStrength.POOR: 0.2,
    SignalStrength.FAIR: 0.5,
    SignalStrength.GOOD: 0.8,
    SignalStrength.EXCELLENT: 1.0,
}
SPEED_ADVICE = {
    "Very Poor": "Connection is very slow. Basic web browsing might be difficult.",
    "Poor": "Connection is slow. Web browsing may be sluggish, streaming difficult.",
    "Fair": "Connection is okay for web browsing and some standard definition streaming.",
    "Good": "Connection is good for most activities, including HD streaming.",
    "Excellent": "Connection is very fast.",
}
# Which technology each preference connects to (4G/5G preferred falls back to 4G without 5G).
PREFERRED_TECH = {
    NetworkModePreference.FOUR_G_ONLY: NetworkTechnology.FOUR_G,
    NetworkModePreference.THREE_G_ONLY: NetworkTechnology.THREE_G,
    NetworkModePreference.TWO_G_ONLY: NetworkTechnology.TWO_G,
}


def _on_off(flag: bool) -> str:
    return "ON" if flag else "OFF"


def _switch(toggle: str, wanted: bool, reply: str) -> Callable[..., str]:
    """A scenario function (``turn_roaming_off``...) that sets a setting through its toggle
    method: toggle once, and again if that left the wrong state, so that the toggle's side
    effects (network search, Wi-Fi drop) run as they do when the user toggles."""

    def switch(self: "TelecomUserTools") -> str:
        flip = getattr(self, toggle)
        if flip() != wanted:
            flip()
        return reply

    return switch


class TelecomUserTools(ToolKit):
    """The simulated user's phone. ``db`` is deep-copied: the episode owns all of it."""

    db: TelecomUserDB

    def __init__(self, db: TelecomUserDB) -> None:
        super().__init__(db.model_copy(deep=True))

    @property
    def device(self) -> MockPhoneAttributes:
        return self.db.device

    @property
    def surroundings(self) -> UserSurroundings:
        return self.db.surroundings

    def _with_status_bar(self, message: str) -> str:
        return f"{message}\nStatus Bar: {self._status_bar()}"

    # -- scenario setup: who the user is and where --------------------------------------
    def set_user_info(self, name: str, phone_number: str) -> None:
        self.surroundings.name = name
        self.surroundings.phone_number = phone_number

    def set_user_location(self, abroad: bool) -> None:
        self.surroundings.is_abroad = abroad

    # -- status bar and network --------------------------------------------------------
    @tool
    def check_status_bar(self) -> str:
        """Shows what icons are currently visible in your phone's status bar (the area at the top of
        the screen). Displays network signal strength, mobile data status (enabled, disabled, data
        saver), Wi-Fi status, and battery level."""
        return f"Status Bar: {self._status_bar()}"

    def _status_bar(self) -> str:
        d = self.device
        icons = []
        if d.airplane_mode:
            icons.append("✈️ Airplane Mode")
        else:
            icons.append(SIGNAL_ICONS.get(d.network_signal_strength, "📵 No Signal"))
            has_network = d.network_technology_connected != NetworkTechnology.NONE
            if has_network:
                icons.append(d.network_technology_connected.value)
            if d.data_enabled and has_network:
                icons.append("📱 Data Enabled")
                if d.data_saver_mode:
                    icons.append("🔽 Data Saver")
            else:
                icons.append("📵 Data Disabled")
        if d.wifi_enabled and d.wifi_connected:
            icons.append(f"📡 Connected to {d.wifi_ssid}" if d.wifi_ssid else "📡 Enabled")
        if d.vpn_connected:
            icons.append("🔒 VPN Connected")
        icons.append(f"🔋 {d.battery_level}%")
        return " | ".join(icons)

    @tool
    def check_network_status(self) -> str:
        """Checks your phone's connection status to cellular networks and Wi-Fi. Shows airplane mode
        status, signal strength, network type, whether mobile data is enabled, and whether data
        roaming is enabled."""
        d = self.device
        lines = [
            f"Airplane Mode: {_on_off(d.airplane_mode)}",
            f"SIM Card Status: {self._sim_status().value}",
            f"Cellular Connection: {d.network_connection_status.value}",
            f"Cellular Signal: {d.network_signal_strength.value}",
            f"Cellular Network Type: {d.network_technology_connected.value}",
            f"Mobile Data Enabled: {'Yes' if d.data_enabled else 'No'}",
            f"Data Roaming Enabled: {'Yes' if d.roaming_enabled else 'No'}",
            f"Wi-Fi Radio: {_on_off(d.wifi_enabled)}",
            f"Wi-Fi Connected: {'Yes' if d.wifi_connected else 'No'}",
        ]
        if d.wifi_connected:
            lines.append(f"Connected Wi-Fi Network: {d.wifi_ssid}")
        return "\n".join(lines)

    @tool
    def check_network_mode_preference(self) -> str:
        """Shows the current network mode preference."""
        return f"Network Mode Preference: {self.device.network_mode_preference.value}"

    @tool(mutates=True)
    def set_network_mode_preference(self, mode: Union[NetworkModePreference, str]) -> str:
        """Changes the type of cellular network your phone prefers to connect to (e.g., 5G, LTE/4G,
        3G). Higher-speed networks (LTE/5G) provide faster data but may use more battery.

        Args:
            mode: The preferred network mode: '4g_5g_preferred', '4g_only', '3g_only' or '2g_only'.
        """
        valid = mode
        if isinstance(mode, str):
            try:
                valid = NetworkModePreference(mode)
            except ValueError:
                options = ", ".join(m.value for m in NetworkModePreference)
                return self._with_status_bar(
                    f"Failed to set network mode: '{mode}' is not a valid option. Please use one of: {options}"
                )
        # as tau2: anything but a string is stored as it is (exact mode passes it raw), and a
        # non-enum then fails at ``.value`` below, after the network search
        self.device.network_mode_preference = valid
        self.simulate_network_search()
        return self._with_status_bar(f"Preferred Network Mode set to: {valid.value}")

    def _mobile_data_working(self) -> bool:
        """Mobile data works unless: airplane mode, no signal, no service, abroad without
        roaming (on the phone *and* on the line), data switched off, or the data cap reached."""
        d, s = self.device, self.surroundings
        if d.airplane_mode or d.network_signal_strength == SignalStrength.NONE:
            return False
        if d.network_connection_status == NetworkStatus.NO_SERVICE:
            return False
        if s.is_abroad and (not d.roaming_enabled or not s.roaming_allowed):
            return False
        return d.data_enabled and not s.mobile_data_usage_exceeded

    @tool
    def run_speed_test(self) -> str:
        """Measures your current internet connection speed (download speed). Provides information
        about connection quality and what activities it can support."""
        speed, description = self._speed_test()
        if speed is None:
            return f"Speed test failed: {description or 'Could not determine speed'}."
        return f"Speed Test Result: {speed:.2f} Mbps ({description}). {SPEED_ADVICE.get(description, '')}"

    def _speed_test(self) -> tuple[Optional[float], Optional[str]]:
        """Deterministic speed: mid-range of the technology x signal factor x slow-downs
        (a poorly performing VPN x0.1, data saver x0.2); None when mobile data is down."""
        if not self._mobile_data_working():
            return None, "No Connection"
        d = self.device
        factor = 1.0
        if d.vpn_connected and d.vpn_details and d.vpn_details.server_performance == PerformanceLevel.POOR:
            factor = 0.1
        if d.data_saver_mode:
            factor *= 0.2
        low, high = TECH_SPEED_MBPS.get(d.network_technology_connected, (0.0, 0.0))
        speed = round((low + high) / 2.0 * SIGNAL_FACTOR.get(d.network_signal_strength, 0.0) * factor, 2)
        for limit, label in ((1, "Very Poor"), (5, "Poor"), (25, "Fair"), (100, "Good")):
            if speed < limit:
                return speed, label
        return speed, "Excellent"

    def simulate_network_search(self) -> None:
        """Re-decide service, technology and signal from the SIM, the mode preference and the
        signal around the user; airplane mode, a broken APN or an inactive line mean no service."""
        d, s = self.device, self.surroundings
        if self._sim_status() == SimStatus.ACTIVE:
            d.network_connection_status = NetworkStatus.CONNECTED
            tech = PREFERRED_TECH.get(d.network_mode_preference, NetworkTechnology.FOUR_G)
            if d.network_mode_preference == NetworkModePreference.FOUR_G_5G_PREFERRED:
                five_g = s.signal_strength.get(NetworkTechnology.FIVE_G, SignalStrength.NONE)
                tech = NetworkTechnology.FOUR_G if five_g == SignalStrength.NONE else NetworkTechnology.FIVE_G
            d.network_technology_connected = tech
            d.network_signal_strength = s.signal_strength.get(tech, SignalStrength.NONE)
        else:
            self._no_service()
        broken_apn = d.active_apn_settings.apn_name == APNNames.BROKEN
        if d.airplane_mode or broken_apn or not s.line_active:
            self._no_service()

    def _no_service(self) -> None:
        self.device.network_connection_status = NetworkStatus.NO_SERVICE
        self.device.network_technology_connected = NetworkTechnology.NONE
        self.device.network_signal_strength = SignalStrength.NONE

    # -- airplane mode -------------------------------------------------------------------
    @tool(mutates=True)
    def toggle_airplane_mode(self) -> str:
        """Toggles Airplane Mode ON or OFF. When ON, it disconnects all wireless communications
        including cellular, Wi-Fi, and Bluetooth. Returns the new state of airplane_mode."""
        return self._with_status_bar(f"Airplane Mode is now {_on_off(self._toggle_airplane_mode())}.")

    def _toggle_airplane_mode(self) -> bool:
        d = self.device
        was_on = d.airplane_mode
        d.airplane_mode = not was_on
        if was_on:
            d.network_connection_status = NetworkStatus.SEARCHING
        if not was_on or d.wifi_enabled:  # turning on drops Wi-Fi; turning off re-scans it
            d.wifi_connected = False
            d.wifi_ssid = None
            d.wifi_signal_strength = SignalStrength.NONE
        if not was_on and d.vpn_connected:
            self._disconnect_vpn()
        self.simulate_network_search()
        return d.airplane_mode

    turn_airplane_mode_on = _switch("_toggle_airplane_mode", True, "Airplane Mode is now ON.")

    turn_airplane_mode_off = _switch("_toggle_airplane_mode", False, "Airplane Mode is now OFF.")

    # -- SIM card ------------------------------------------------------------------------
    @tool
    def check_sim_status(self) -> str:
        """Checks if your SIM card is working correctly and displays its current status. Shows if
        the SIM is active, missing, or locked with a PIN or PUK code."""
        return {
            SimStatus.ACTIVE: "Your SIM card is active and working.",
            SimStatus.MISSING: "No SIM card detected in the phone.",
            SimStatus.LOCKED_PIN: "The SIM card is locked with a PIN code.",
            SimStatus.LOCKED_PUK: "The SIM card is locked with a PUK code.",
        }[self._sim_status()]

    def _sim_status(self) -> SimStatus:
        return SimStatus.MISSING if self.device.sim_card_missing else self.device.sim_card_status

    @tool(mutates=True)
    def reseat_sim_card(self) -> str:
        """Simulates removing and reinserting your SIM card. This can help resolve recognition
        issues."""
        self.device.sim_card_missing = False
        self.simulate_network_search()
        return self._with_status_bar("SIM card re-seated successfully.")

    def unseat_sim_card(self) -> str:
        """Scenario: the SIM is out (fixed by ``reseat_sim_card``)."""
        self.device.sim_card_missing = True
        self.simulate_network_search()
        return "SIM card un-seated successfully."

    def lock_sim_card(self, mode: str) -> str:
        """Scenario: the SIM is PIN- or PUK-locked (no tool fixes it)."""
        if mode == "pin":
            self.device.sim_card_status = SimStatus.LOCKED_PIN
        elif mode == "puk":
            self.device.sim_card_status = SimStatus.LOCKED_PUK
        self.simulate_network_search()
        return f"SIM card locked successfully in {mode} mode."

    # -- mobile data, roaming, data saver ------------------------------------------------
    @tool(mutates=True)
    def toggle_data(self) -> str:
        """Toggles your phone's mobile data connection ON or OFF. Controls whether your phone can
        use cellular data for internet access when Wi-Fi is unavailable. Returns the new data
        connection status."""
        return self._with_status_bar(f"Mobile Data is now {_on_off(self._toggle_data())}.")

    def _toggle_data(self) -> bool:
        self.device.data_enabled = not self.device.data_enabled
        self.simulate_network_search()
        return self.device.data_enabled

    def turn_data_on(self) -> str:
        self.device.data_enabled = True
        return "Data connection restored."

    turn_data_off = _switch("_toggle_data", False, "Data connection broken.")

    @tool(mutates=True)
    def toggle_roaming(self) -> str:
        """Toggles Data Roaming ON or OFF. When ON, your phone can use data networks in areas
        outside your carrier's coverage. Returns the new data roaming status."""
        return self._with_status_bar(f"Data Roaming is now {_on_off(self._toggle_roaming())}.")

    def _toggle_roaming(self) -> bool:
        self.device.roaming_enabled = not self.device.roaming_enabled
        self.simulate_network_search()
        return self.device.roaming_enabled

    turn_roaming_on = _switch("_toggle_roaming", True, "Data Roaming is now ON.")

    turn_roaming_off = _switch("_toggle_roaming", False, "Data Roaming is now OFF.")

    @tool
    def check_data_restriction_status(self) -> str:
        """Checks if your phone has any data-limiting features active. Shows if Data Saver mode is
        on."""
        if self.device.data_saver_mode:
            return "Data Saver mode is ON (limits data usage)."
        return "Data Saver mode is OFF."

    @tool(mutates=True)
    def toggle_data_saver_mode(self) -> str:
        """Toggles Data Saver mode ON or OFF. When ON, it reduces data usage, which may affect data
        speed. Returns the new data saver mode status."""
        return self._with_status_bar(f"Data Saver Mode is now {_on_off(self._toggle_data_saver())}.")

    def _toggle_data_saver(self) -> bool:
        self.device.data_saver_mode = not self.device.data_saver_mode
        return self.device.data_saver_mode

    turn_data_saver_mode_on = _switch("_toggle_data_saver", True, "Data Saver Mode is now ON.")

    turn_data_saver_mode_off = _switch("_toggle_data_saver", False, "Data Saver Mode is now OFF.")

    # -- APN -----------------------------------------------------------------------------
    @tool
    def check_apn_settings(self) -> str:
        """Checks the technical APN settings your phone uses to connect to your carrier's mobile
        data network. Shows current APN name and MMSC URL for picture messaging."""
        apn = self.device.active_apn_settings
        return (
            f"Current APN Name: {apn.apn_name.value or 'Not Set'}\n"
            f"MMSC URL (for picture messages): {apn.mmsc_url or 'Not Set'}\n"
            "(These are technical settings, usually best left unchanged.)"
        )

    @tool(mutates=True)
    def set_apn_settings(self, apn_settings: Union[APNSettings, dict[str, Any]]) -> str:
        """Sets the APN settings for the phone.

        Args:
            apn_settings: The new APN settings (apn_name, mms_apn, mmsc_url, mms_proxy, mms_port,
                reset_at_reboot).
        """
        if isinstance(apn_settings, dict):
            apn_settings = APNSettings(**apn_settings)
        self.device.active_apn_settings = apn_settings
        # the message before the search, as tau2: a bad value (exact mode) fails here, unsearched
        status = f"APN settings set to: {apn_settings.apn_name.value}"
        self.simulate_network_search()
        return self._with_status_bar(status)

    @tool(mutates=True)
    def reset_apn_settings(self) -> str:
        """Resets your APN settings to the default settings."""
        self.device.active_apn_settings.reset_at_reboot = True  # takes effect at the next reboot
        self.simulate_network_search()
        return self._with_status_bar("APN settings will reset at reboot.")

    def break_apn_settings(self) -> str:
        """Scenario: no service until the APN is reset and the phone rebooted."""
        self.device.active_apn_settings.apn_name = APNNames.BROKEN
        self.simulate_network_search()
        return "APN settings broken. Please call reset_apn_settings() to fix."

    def break_apn_mms_setting(self) -> str:
        """Scenario: no MMSC URL, so no picture messages, until the APN is reset and rebooted."""
        self.device.active_apn_settings.mmsc_url = None
        return "APN MMS setting broken. Please call reset_apn_settings() to fix."

    # -- Wi-Fi and Wi-Fi calling ---------------------------------------------------------
    @tool
    def check_wifi_status(self) -> str:
        """Checks your Wi-Fi connection status. Shows if Wi-Fi is turned on, which network you're
        connected to (if any), and the signal strength."""
        d = self.device
        if not d.wifi_enabled:
            return "Wi-Fi is turned OFF."
        if d.wifi_connected:
            signal = d.wifi_signal_strength.value
            return f"Wi-Fi is ON and connected to '{d.wifi_ssid}'. Signal strength: {signal}."
        return "Wi-Fi is ON but not connected to any network."

    @tool(mutates=True)
    def toggle_wifi(self) -> str:
        """Toggles your phone's Wi-Fi radio ON or OFF. Controls whether your phone can discover and
        connect to wireless networks for internet access. Returns the new Wi-Fi status."""
        d = self.device
        if d.airplane_mode:
            return self._with_status_bar("Cannot change Wi-Fi settings while Airplane Mode is ON.")
        d.wifi_enabled = not d.wifi_enabled
        if not d.wifi_enabled:
            d.wifi_connected = False
            d.wifi_ssid = None
            d.wifi_signal_strength = SignalStrength.NONE
        return self._with_status_bar(f"Wi-Fi is now {_on_off(d.wifi_enabled)}.")

    @tool
    def check_wifi_calling_status(self) -> str:
        """Checks if Wi-Fi Calling is enabled on your device. This feature allows you to make and
        receive calls over a Wi-Fi network instead of using the cellular network."""
        return f"Wi-Fi Calling is currently turned {_on_off(self.device.wifi_calling_enabled)}."

    @tool(mutates=True)
    def toggle_wifi_calling(self) -> str:
        """Toggles Wi-Fi Calling ON or OFF. This feature allows you to make and receive calls over
        Wi-Fi instead of the cellular network, which can help in areas with weak cellular signal.
        Returns the new Wi-Fi Calling status."""
        self.device.wifi_calling_enabled = not self.device.wifi_calling_enabled
        return self._with_status_bar(f"Wi-Fi Calling is now {_on_off(self.device.wifi_calling_enabled)}.")

    def set_wifi_calling(self, enabled: bool, mms_over_wifi: Optional[bool] = None) -> str:
        """Scenario: Wi-Fi calling on/off, and optionally MMS over Wi-Fi (which breaks MMS)."""
        self.device.wifi_calling_enabled = enabled
        message = f"Wi-Fi Calling is now {_on_off(enabled)}."
        if mms_over_wifi is not None:
            self.device.wifi_calling_mms_over_wifi = mms_over_wifi
            message += f"\nMMS over Wi-Fi is now {_on_off(mms_over_wifi)}."
        return message

    # -- VPN -----------------------------------------------------------------------------
    @tool
    def check_vpn_status(self) -> str:
        """Checks if you're using a VPN (Virtual Private Network) connection. Shows if a VPN is
        active, connected, and displays any available connection details."""
        d = self.device
        if d.vpn_connected:
            if d.vpn_details:
                return f"VPN is ON and connected. Details: {d.vpn_details.model_dump()}"
            return "VPN is ON and connected (no specific details available)."
        if d.vpn_enabled_setting:
            return "VPN is turned ON in settings, but currently not connected."
        return "VPN is turned OFF."

    @tool(mutates=True)
    def connect_vpn(self) -> str:
        """Connects to your VPN (Virtual Private Network)."""
        if self.device.vpn_connected:
            return "VPN already connected."
        self.device.vpn_connected = True
        self.device.vpn_details = default_vpn_details()
        return self._with_status_bar("VPN connected successfully.")

    @tool(mutates=True)
    def disconnect_vpn(self) -> str:
        """Disconnects any active VPN (Virtual Private Network) connection. Stops routing your
        internet traffic through a VPN server, which might affect connection speed or access to
        content."""
        if self._disconnect_vpn():
            return self._with_status_bar("VPN disconnected successfully.")
        return self._with_status_bar("No active VPN connection to disconnect.")

    def _disconnect_vpn(self) -> bool:
        if not self.device.vpn_connected:
            return False
        self.device.vpn_connected = False
        self.device.vpn_details = None
        return True

    def break_vpn(self) -> str:
        """Scenario: a VPN on a poorly performing server slows mobile data tenfold."""
        self.connect_vpn()
        self.device.vpn_details.server_performance = PerformanceLevel.POOR  # type: ignore[union-attr]
        return "VPN connection broken."

    # -- apps and permissions ------------------------------------------------------------
    @tool
    def check_installed_apps(self) -> str:
        """Returns the name of all installed apps on the phone."""
        return f"The following apps are installed on the phone: {', '.join(self.device.app_statuses)}"

    def _granted(self, app_name: str) -> Optional[list[str]]:
        """Names of the permissions the app holds; None if it is not installed."""
        app = self.device.app_statuses.get(app_name)
        if app is None:
            return None
        return [name.replace("_", " ").lower() for name, on in app.permissions.model_dump().items() if on]

    @tool
    def check_app_status(self, app_name: str) -> str:
        """Checks detailed information about a specific app. Shows its permissions and background
        data usage settings.

        Args:
            app_name: The name of the app, such as 'messaging' or 'browser'.
        """
        granted = self._granted(app_name)
        if granted is None:
            return f"App '{app_name}' not found on this phone."
        if not granted:
            return f"Status for App: {app_name}\n - Permissions: None granted."
        lines = [f"Status for App: {app_name}", " - Permissions Granted:"]
        return "\n".join(lines + [f"   - {p}" for p in granted])

    @tool
    def check_app_permissions(self, app_name: str) -> str:
        """Checks what permissions a specific app currently has. Shows if the app has access to
        features like storage, camera, location, etc.

        Args:
            app_name: The name of the app, such as 'messaging' or 'browser'.
        """
        granted = self._granted(app_name)
        if granted is None:
            return f"App '{app_name}' not found on this phone."
        if not granted:
            return f"App '{app_name}' currently has no permissions granted."
        return f"App '{app_name}' has permission for: {', '.join(granted)}."

    @tool(mutates=True)
    def grant_app_permission(self, app_name: str, permission: str) -> str:
        """Gives a specific permission to an app (like access to storage, camera, or location).
        Required for some app functions to work properly.

        Args:
            app_name: The name of the app to grant the permission to.
            permission: The permission to grant, should be lowercase.
        """
        ok, message = self._set_permission(app_name, permission, True)
        return self._with_status_bar(f"{'Success' if ok else 'Error'}. {message}")

    def remove_app_permission(self, app_name: str, permission: str) -> tuple[bool, str]:
        """Scenario: take a permission away (e.g. the messaging app's storage, breaking MMS)."""
        return self._set_permission(app_name, permission, False)

    def _set_permission(self, app_name: str, permission: str, value: bool) -> tuple[bool, str]:
        app = self.device.app_statuses.get(app_name)
        verb = "granted" if value else "removed"
        if app is None:
            cannot = "grant" if value else "remove"
            return False, f"App '{app_name}' not found. Cannot {cannot} permission."
        permission = permission.lower()
        tracked = list(app.permissions.model_dump())
        if permission not in tracked:
            listing = f", available permissions: {tracked}" if value else "."
            return False, f"Permission '{permission}' not tracked for app '{app_name}'{listing}"
        setattr(app.permissions, permission, value)
        preposition = "to" if value else "from"
        return True, f"Permission '{permission}' {verb} {preposition} app '{app_name}'."

    @tool
    def can_send_mms(self) -> str:
        """Checks if the default messaging app can send MMS messages."""
        if self._can_send_mms():
            return "Your messaging app can send MMS messages."
        return "Your messaging app cannot send MMS messages."

    def _can_send_mms(self) -> bool:
        """MMS needs working mobile data on 3G or better, no MMS-over-Wi-Fi (the carrier lacks
        it), an MMSC URL, and a messaging app holding both SMS and storage permissions."""
        d = self.device
        if not self._mobile_data_working() or d.network_technology_connected == NetworkTechnology.TWO_G:
            return False
        if d.wifi_calling_enabled and d.wifi_calling_mms_over_wifi:
            return False
        if d.active_apn_settings.mmsc_url is None:
            return False
        app = d.app_statuses.get("messaging")
        return app is not None and app.permissions.storage and app.permissions.sms

    # -- device ---------------------------------------------------------------------------
    @tool(mutates=True)
    def reboot_device(self) -> str:
        """Restarts your phone completely. This can help resolve many temporary software glitches by
        refreshing all running services and connections."""
        lines = []
        if self.device.active_apn_settings.reset_at_reboot:
            lines.append("Resetting APN settings...")
            self.device.active_apn_settings = APNSettings()
        lines.append("Restarting network services...")
        self.device.network_connection_status = NetworkStatus.SEARCHING
        self.simulate_network_search()
        return self._with_status_bar("\n".join(lines))

    # -- payments -------------------------------------------------------------------------
    @tool
    def check_payment_request(self) -> str:
        """Checks if the agent has sent you a payment request."""
        request = self.surroundings.payment_request
        if request is None:
            return "No payment request has been made."
        return f"You have a payment request for bill {request.bill_id} of {request.amount_due} USD."

    @tool(mutates=True)
    def make_payment(self) -> str:
        """Makes a payment for the bill that the agent has sent you."""
        request = self.surroundings.payment_request
        if request is None:
            return "You do not have a payment request."
        request.paid = True
        return f"Payment of {request.amount_due} USD has been made for bill {request.bill_id}."

    # -- checks (tasks' env_assertions) ----------------------------------------------------
    def assert_airplane_mode_status(self, expected_status: bool) -> bool:
        return self.device.airplane_mode == expected_status

    def assert_service_status(self, expected_status: str) -> bool:
        return self.device.network_connection_status == NetworkStatus(expected_status)

    def assert_mobile_data_status(self, expected_status: bool) -> bool:
        return self._mobile_data_working() == expected_status

    def assert_mobile_roaming_status(self, expected_status: bool) -> bool:
        return self.device.roaming_enabled == expected_status

    def assert_mobile_data_saver_mode_status(self, expected_status: bool) -> bool:
        return self.device.data_saver_mode == expected_status

    def assert_internet_speed(self, expected_speed: float, expected_desc: Optional[str] = None) -> bool:
        speed, desc = self._speed_test()
        speed = speed or 0.0
        if expected_desc is None:
            return speed >= expected_speed
        return speed >= expected_speed and desc.lower() == expected_desc.lower()  # type: ignore[union-attr]

    def assert_internet_not_excellent(self) -> bool:
        return self._speed_test()[1].lower() != "excellent"  # type: ignore[union-attr]

    def assert_can_send_mms(self, expected_status: bool) -> bool:
        return self._can_send_mms() == expected_status

    def assert_mobile_data_usage_exceeded(self, expected_status: bool) -> bool:
        return self.surroundings.mobile_data_usage_exceeded == expected_status
