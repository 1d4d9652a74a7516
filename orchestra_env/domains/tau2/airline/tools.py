"""The airline agent's tools (tau2's ``domains/airline/tools.py``).

Behaviour that scoring depends on is tau2's, including its quirks: new reservations are
``HATHAT``/``HATHAU``/``HATHAV``, certificates ``certificate_3221322``..., "now" is
2024-05-15T15:00:00, cancelling does not release seats, changing flights does not take
seats, and the one-stop search's next-day date is not zero-padded. Records are written only
after ``self.own(...)`` (copy-on-write, see :mod:`orchestra_env.domains.toolkit`).
"""
from __future__ import annotations

import copy
from typing import Any, Optional, TypeVar

import pydantic

from orchestra_env.domains.tau2.airline.data_model import (
    AirportCode,
    CabinClass,
    Certificate,
    DirectFlight,
    Flight,
    FlightDateStatus,
    FlightDateStatusAvailable,
    FlightDB,
    FlightInfo,
    FlightType,
    Insurance,
    Passenger,
    Payment,
    Reservation,
    ReservationFlight,
    User,
)
from orchestra_env.domains.tau2.generic import Calculator, HumanTransfer
from orchestra_env.domains.toolkit import tool

NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_PAYMENT_IDS = (3221322, 3221323, 3221324)
NOW = "2024-05-15T15:00:00"
AIRPORTS = (
    ("SFO", "San Francisco"), ("JFK", "New York"), ("LAX", "Los Angeles"), ("ORD", "Chicago"),
    ("DFW", "Dallas"), ("DEN", "Denver"), ("SEA", "Seattle"), ("ATL", "Atlanta"), ("MIA", "Miami"),
    ("BOS", "Boston"), ("PHX", "Phoenix"), ("IAH", "Houston"), ("LAS", "Las Vegas"),
    ("MCO", "Orlando"), ("EWR", "Newark"), ("CLT", "Charlotte"), ("MSP", "Minneapolis"),
    ("DTW", "Detroit"), ("PHL", "Philadelphia"), ("LGA", "LaGuardia"),
)


M = TypeVar("M", bound=pydantic.BaseModel)


def as_models(items: Any, model: type[M]) -> Any:
    """tau2's conversion of a list argument: when every item is a dict, each becomes a
    ``model``; otherwise the list stays as passed (validated mode has already made models;
    exact mode then fails where an item is used, as tau2 does)."""
    if all(isinstance(item, dict) for item in items):
        return [model(**item) for item in items]
    return items


class AirlineTools(Calculator, HumanTransfer):
    db: FlightDB

    # ------------------------------------------------------------------ lookups
    def _user(self, user_id: str) -> User:
        if user_id not in self.db.users:
            raise ValueError(f"User {user_id} not found")
        return self.db.users[user_id]

    def _reservation(self, reservation_id: str) -> Reservation:
        if reservation_id not in self.db.reservations:
            raise ValueError(f"Reservation {reservation_id} not found")
        return self.db.reservations[reservation_id]

    def _flight(self, flight_number: str) -> Flight:
        if flight_number not in self.db.flights:
            raise ValueError(f"Flight {flight_number} not found")
        return self.db.flights[flight_number]

    def _flight_on(self, flight_number: str, date: str) -> FlightDateStatus:
        flight = self._flight(flight_number)
        if date not in flight.dates:
            raise ValueError(f"Flight {flight_number} not found on date {date}")
        return flight.dates[date]

    def _available_on(self, flight_number: str, date: str, cabin: CabinClass, seats: int) -> FlightDateStatusAvailable:
        instance = self._flight_on(flight_number, date)
        if not isinstance(instance, FlightDateStatusAvailable):
            raise ValueError(f"Flight {flight_number} not available on date {date}")
        if instance.available_seats[cabin] < seats:
            raise ValueError(f"Not enough seats on flight {flight_number}")
        return instance

    def _direct_flights(self, date: str, origin: Optional[str] = None, destination: Optional[str] = None,
                        leave_after: Optional[str] = None) -> list[DirectFlight]:
        results = []
        for flight in self.db.flights.values():
            instance = flight.dates.get(date)
            if (
                (origin is None or flight.origin == origin)
                and (destination is None or flight.destination == destination)
                and isinstance(instance, FlightDateStatusAvailable)
                and (leave_after is None or flight.scheduled_departure_time_est >= leave_after)
            ):
                results.append(DirectFlight(
                    flight_number=flight.flight_number,
                    origin=flight.origin,
                    destination=flight.destination,
                    status="available",
                    scheduled_departure_time_est=flight.scheduled_departure_time_est,
                    scheduled_arrival_time_est=flight.scheduled_arrival_time_est,
                    available_seats=instance.available_seats,
                    prices=instance.prices,
                ))
        return results

    def _charge_for_update(self, user_id: str, payment_id: str, total_price: int) -> Optional[Payment]:
        """Check and take a payment for a change; a gift card is debited, a certificate refused."""
        user = self._user(user_id)
        if payment_id not in user.payment_methods:
            raise ValueError("Payment method not found")
        method = user.payment_methods[payment_id]
        if method.source == "certificate":
            raise ValueError("Certificate cannot be used to update reservation")
        if method.source == "gift_card" and method.amount < total_price:
            raise ValueError("Gift card balance is not enough")
        if method.source == "gift_card":
            self.own(self.db.users, user_id).payment_methods[payment_id].amount -= total_price
        return Payment(payment_id=payment_id, amount=total_price) if total_price != 0 else None

    # ------------------------------------------------------------------ tools
    @tool(mutates=True)
    def book_reservation(
        self,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: FlightType,
        cabin: CabinClass,
        flights: list[FlightInfo],
        passengers: list[Passenger],
        payment_methods: list[Payment],
        total_baggages: int,
        nonfree_baggages: int,
        insurance: Insurance,
    ) -> Reservation:
        """Book a reservation.

        Args:
            user_id: The ID of the user to book the reservation such as 'sara_doe_496'`.
            origin: The IATA code for the origin city such as 'SFO'.
            destination: The IATA code for the destination city such as 'JFK'.
            flight_type: The type of flight such as 'one_way' or 'round_trip'.
            cabin: The cabin class such as 'basic_economy', 'economy', or 'business'.
            flights: An array of objects containing details about each piece of flight.
            passengers: An array of objects containing details about each passenger.
            payment_methods: An array of objects containing details about each payment method.
            total_baggages: The total number of baggage items to book the reservation.
            nonfree_baggages: The number of non-free baggage items to book the reservation.
            insurance: Whether the reservation has insurance.
        """
        flights = as_models(flights, FlightInfo)
        passengers = as_models(passengers, Passenger)
        payment_methods = as_models(payment_methods, Payment)
        user = self._user(user_id)
        reservation_id = next((r for r in NEW_RESERVATION_IDS if r not in self.db.reservations), None)
        if reservation_id is None:
            raise ValueError("Too many reservations")
        # built first, as tau2 does: with raw arguments (exact mode) its validation error is the first
        reservation = Reservation(
            reservation_id=reservation_id,
            user_id=user_id,
            origin=origin,
            destination=destination,
            flight_type=flight_type,
            cabin=cabin,
            flights=[],
            passengers=copy.deepcopy(passengers),
            payment_history=copy.deepcopy(payment_methods),
            created_at=NOW,
            total_baggages=total_baggages,
            nonfree_baggages=nonfree_baggages,
            insurance=insurance,
        )

        total_price = 0
        for info in flights:
            flight = self._flight(info.flight_number)
            instance = self._available_on(info.flight_number, info.date, cabin, len(passengers))
            price = instance.prices[cabin]
            reservation.flights.append(ReservationFlight(origin=flight.origin, destination=flight.destination,
                                                         flight_number=info.flight_number, date=info.date,
                                                         price=price))
            total_price += price * len(passengers)
        if insurance == "yes":
            total_price += 30 * len(passengers)
        total_price += 50 * nonfree_baggages

        for payment in payment_methods:
            if payment.payment_id not in user.payment_methods:
                raise ValueError(f"Payment method {payment.payment_id} not found")
            method = user.payment_methods[payment.payment_id]
            if method.source in ("gift_card", "certificate") and method.amount < payment.amount:
                raise ValueError(f"Not enough balance in payment method {payment.payment_id}")
        paid = sum(p.amount for p in payment_methods)
        if paid != total_price:
            raise ValueError(f"Payment amount does not add up, total price is {total_price}, but paid {paid}")

        user = self.own(self.db.users, user_id)
        for payment in payment_methods:
            method = user.payment_methods[payment.payment_id]
            if method.source == "gift_card":
                method.amount -= payment.amount
            elif method.source == "certificate":
                user.payment_methods.pop(payment.payment_id)
        for info in flights:
            flight = self.own(self.db.flights, info.flight_number)
            flight.dates[info.date].available_seats[cabin] -= len(passengers)  # type: ignore[union-attr]
        self.db.reservations[reservation_id] = reservation
        user.reservations.append(reservation_id)
        return reservation

    @tool(mutates=True)
    def cancel_reservation(self, reservation_id: str) -> Reservation:
        """Cancel the whole reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
        """
        self._reservation(reservation_id)
        reservation = self.own(self.db.reservations, reservation_id)
        refunds = [Payment(payment_id=p.payment_id, amount=-p.amount) for p in reservation.payment_history]
        reservation.payment_history.extend(refunds)
        reservation.status = "cancelled"
        return reservation  # tau2 does not release the seats

    @tool
    def get_reservation_details(self, reservation_id: str) -> Reservation:
        """Get the details of a reservation.

        Args:
            reservation_id: The reservation ID, such as '8JX2WO'.
        """
        return self._reservation(reservation_id)

    @tool
    def get_user_details(self, user_id: str) -> User:
        """Get the details of a user, including their reservations.

        Args:
            user_id: The user ID, such as 'sara_doe_496'.
        """
        return self._user(user_id)

    @tool
    def list_all_airports(self) -> list[AirportCode]:
        """Returns a list of all available airports."""
        return [AirportCode(iata=code, city=city) for code, city in AIRPORTS]

    @tool
    def search_direct_flight(self, origin: str, destination: str, date: str) -> list[DirectFlight]:
        """Search for direct flights between two cities on a specific date.

        Args:
            origin: The origin city airport in three letters, such as 'JFK'.
            destination: The destination city airport in three letters, such as 'LAX'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-01-01'.
        """
        return self._direct_flights(date=date, origin=origin, destination=destination)

    @tool
    def search_onestop_flight(self, origin: str, destination: str, date: str) -> list[list[DirectFlight]]:
        """Search for one-stop flights between two cities on a specific date.

        Args:
            origin: The origin city airport in three letters, such as 'JFK'.
            destination: The destination city airport in three letters, such as 'LAX'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.
        """
        results = []
        for first in self._direct_flights(date=date, origin=origin):
            first.date = date
            # tau2's next-day date is not zero-padded ("2024-05-6"): kept for identical results
            date2 = f"2024-05-{int(date[-2:]) + 1}" if "+1" in first.scheduled_arrival_time_est else date
            for second in self._direct_flights(date=date2, origin=first.destination, destination=destination,
                                               leave_after=first.scheduled_arrival_time_est):
                second.date = date2
                results.append([first, second])
        return results

    @tool(mutates=True)
    def send_certificate(self, user_id: str, amount: int) -> str:
        """Send a certificate to a user. Be careful!

        Args:
            user_id: The ID of the user to book the reservation, such as 'sara_doe_496'.
            amount: The amount of the certificate to send.
        """
        user = self._user(user_id)
        for payment_id in (f"certificate_{i}" for i in NEW_PAYMENT_IDS):
            if payment_id not in user.payment_methods:
                user = self.own(self.db.users, user_id)
                user.payment_methods[payment_id] = Certificate(id=payment_id, amount=amount, source="certificate")
                return f"Certificate {payment_id} added to user {user_id} with amount {amount}."
        raise ValueError("Too many certificates")

    @tool(mutates=True)
    def update_reservation_baggages(self, reservation_id: str, total_baggages: int, nonfree_baggages: int,
                                    payment_id: str) -> Reservation:
        """Update the baggage information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'
            total_baggages: The updated total number of baggage items included in the reservation.
            nonfree_baggages: The updated number of non-free baggage items included in the reservation.
            payment_id: The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', 'certificate_7815826'.
        """
        reservation = self._reservation(reservation_id)
        self._user(reservation.user_id)
        total_price = 50 * max(0, nonfree_baggages - reservation.nonfree_baggages)
        payment = self._charge_for_update(reservation.user_id, payment_id, total_price)
        reservation = self.own(self.db.reservations, reservation_id)
        if payment is not None:
            reservation.payment_history.append(payment)
        reservation.total_baggages = total_baggages
        reservation.nonfree_baggages = nonfree_baggages
        return reservation

    @tool(mutates=True)
    def update_reservation_flights(self, reservation_id: str, cabin: CabinClass, flights: list[FlightInfo],
                                   payment_id: str) -> Reservation:
        """Update the flight information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            cabin: The cabin class of the reservation
            flights: An array of objects containing details about each piece of flight in the ENTIRE new reservation. Even if the a flight segment is not changed, it should still be included in the array.
            payment_id: The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', 'certificate_7815826'.
        """
        flights = as_models(flights, FlightInfo)
        reservation = self._reservation(reservation_id)
        self._user(reservation.user_id)
        n = len(reservation.passengers)
        total_price = 0
        new_flights: list[ReservationFlight] = []
        for info in flights:
            kept = next((f for f in reservation.flights
                         if f.flight_number == info.flight_number and f.date == info.date
                         and cabin == reservation.cabin), None)
            if kept is not None:
                total_price += kept.price * n
                new_flights.append(kept)
                continue
            flight = self._flight(info.flight_number)
            instance = self._available_on(info.flight_number, info.date, cabin, n)
            new = ReservationFlight(flight_number=info.flight_number, date=info.date, price=instance.prices[cabin],
                                    origin=flight.origin, destination=flight.destination)
            total_price += new.price * n
            new_flights.append(new)
        total_price -= sum(f.price for f in reservation.flights) * n

        payment = self._charge_for_update(reservation.user_id, payment_id, total_price)
        reservation = self.own(self.db.reservations, reservation_id)
        if payment is not None:
            reservation.payment_history.append(payment)
        reservation.flights = [f.model_copy() for f in new_flights]
        reservation.cabin = cabin
        return reservation  # tau2 does not update the flights' seats here

    @tool(mutates=True)
    def update_reservation_passengers(self, reservation_id: str, passengers: list[Passenger]) -> Reservation:
        """Update the passenger information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            passengers: An array of objects containing details about each passenger.
        """
        passengers = as_models(passengers, Passenger)
        reservation = self._reservation(reservation_id)
        if len(passengers) != len(reservation.passengers):
            raise ValueError("Number of passengers does not match")
        reservation = self.own(self.db.reservations, reservation_id)
        reservation.passengers = [p.model_copy() for p in passengers]
        return reservation

    @tool
    def get_flight_status(self, flight_number: str, date: str) -> str:
        """Get the status of a flight.

        Args:
            flight_number: The flight number.
            date: The date of the flight.
        """
        return self._flight_on(flight_number, date).status
