"""tau2-bench retail tools: one typed method per tool; the docstring is what the policy reads.

Names, arguments, return values, error messages and database writes follow tau2-bench's
``RetailTools`` exactly (its quirks included, see ``modify_pending_order_items``): tasks are
scored by replaying their gold actions through these same methods and comparing databases.
Reads return the record itself (a pydantic model); writes first take the record private to
the episode with :meth:`ToolKit.own` and return it after the change.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestra_env.domains.tau2.generic import Calculator, HumanTransfer
from orchestra_env.domains.toolkit import tool
from orchestra_env.domains.tau2.retail.data_model import (
    GiftCard,
    Order,
    OrderPayment,
    Product,
    RetailDB,
    User,
    UserAddress,
    Variant,
)

CANCEL_REASONS = ("no longer needed", "ordered by mistake")


@dataclass(frozen=True)
class SwapRule:
    """What differs between tau2's two item-swapping tools: the order status they need, their
    error messages (tau2's, word for word), and two small rules of their own."""

    status: str
    wrong_status: str
    missing_item: str  # formatted with item_id
    count_mismatch: str
    short_balance: str
    same_id_ok: bool  # an exchange may swap an item for the same variant; a modification may not
    round_difference: bool  # tau2 rounds the exchange's price difference, not the modification's


MODIFY_PENDING = SwapRule(
    status="pending",
    wrong_status="Non-pending order cannot be modified",
    missing_item="{item_id} not found",
    count_mismatch="The number of items to be exchanged should match",
    short_balance="Insufficient gift card balance to pay for the new item",
    same_id_ok=False,
    round_difference=False,
)
EXCHANGE_DELIVERED = SwapRule(
    status="delivered",
    wrong_status="Non-delivered order cannot be exchanged",
    missing_item="Number of {item_id} not found.",
    count_mismatch="The number of items to be exchanged should match.",
    short_balance="Insufficient gift card balance to pay for the price difference",
    same_id_ok=True,
    round_difference=True,
)


class RetailTools(Calculator, HumanTransfer):
    """The customer-service agent's tools over a :class:`RetailDB` episode copy."""

    db: RetailDB

    # -- lookups (errors are the benchmark's messages) -------------------------------------
    def _order(self, order_id: str) -> Order:
        if order_id not in self.db.orders:
            raise ValueError("Order not found")
        return self.db.orders[order_id]

    def _user(self, user_id: str) -> User:
        if user_id not in self.db.users:
            raise ValueError("User not found")
        return self.db.users[user_id]

    def _product(self, product_id: str) -> Product:
        if product_id not in self.db.products:
            raise ValueError("Product not found")
        return self.db.products[product_id]

    def _variant(self, product_id: str, item_id: str) -> Variant:
        product = self._product(product_id)
        if item_id not in product.variants:
            raise ValueError("Variant not found")
        return product.variants[item_id]

    def _payment_method(self, user_id: str, payment_method_id: str):
        user = self._user(user_id)
        if payment_method_id not in user.payment_methods:
            raise ValueError("Payment method not found")
        return user.payment_methods[payment_method_id]

    def _own_order(self, order_id: str) -> Order:
        self._order(order_id)
        return self.own(self.db.orders, order_id)

    def _own_payment_method(self, user_id: str, payment_method_id: str):
        """The payment method, inside a user record private to this episode (for balance writes)."""
        self._payment_method(user_id, payment_method_id)
        return self.own(self.db.users, user_id).payment_methods[payment_method_id]

    @staticmethod
    def _count_check(order: Order, item_ids: list[str], message: str) -> None:
        """Each requested item id (duplicates allowed) must be in the order at least as often."""
        in_order = [item.item_id for item in order.items]
        for item_id in item_ids:
            if item_ids.count(item_id) > in_order.count(item_id):
                raise ValueError(message.format(item_id=item_id))

    # -- reads -----------------------------------------------------------------------------
    @tool
    def find_user_id_by_email(self, email: str) -> str:
        """Find user id by email. If the user is not found, the function will return an error
        message.

        Args:
            email: The email of the user, such as 'something@example.com'.
        """
        for user_id, user in self.db.users.items():
            if user.email.lower() == email.lower():
                return user_id
        raise ValueError("User not found")

    @tool
    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        """Find user id by first name, last name, and zip code. If the user is not found, the
        function will return an error message. By default, find user id by email, and only call this
        function if the user is not found by email or cannot remember email.

        Args:
            first_name: The first name of the customer, such as 'John'.
            last_name: The last name of the customer, such as 'Doe'.
            zip: The zip code of the customer, such as '12345'.
        """
        for user_id, user in self.db.users.items():
            if (
                user.name.first_name.lower() == first_name.lower()
                and user.name.last_name.lower() == last_name.lower()
                and user.address.zip == zip
            ):
                return user_id
        raise ValueError("User not found")

    @tool
    def get_order_details(self, order_id: str) -> Order:
        """Get the status and details of an order.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
        """
        return self._order(order_id)

    @tool
    def get_product_details(self, product_id: str) -> Product:
        """Get the inventory details of a product.

        Args:
            product_id: The product id, such as '6086499569'. Be careful the product id is different
                from the item id.
        """
        return self._product(product_id)

    @tool
    def get_item_details(self, item_id: str) -> Variant:
        """Get the inventory details of an item.

        Args:
            item_id: The item id, such as '6086499569'. Be careful the item id is different from the
                product id.
        """
        for product in self.db.products.values():
            if item_id in product.variants:
                return product.variants[item_id]
        raise ValueError("Item not found")

    @tool
    def get_user_details(self, user_id: str) -> User:
        """Get the details of a user, including their orders.

        Args:
            user_id: The user id, such as 'sara_doe_496'.
        """
        return self._user(user_id)

    @tool
    def list_all_product_types(self) -> str:
        """List the name and product id of all product types. Each product type has a variety of
        different items with unique item ids and options. There are only 50 product types in the
        store."""
        names = {product.name: product.product_id for product in self.db.products.values()}
        return json.dumps(names, sort_keys=True)

    # -- writes: pending orders ------------------------------------------------------------
    @tool(mutates=True)
    def cancel_pending_order(self, order_id: str, reason: str) -> Order:
        """Cancel a pending order. If the order is already processed or delivered, it cannot be
        cancelled. The agent needs to explain the cancellation detail and ask for explicit user
        confirmation (yes/no) to proceed. If the user confirms, the order status will be changed to
        'cancelled' and the payment will be refunded. The refund will be added to the user's gift
        card balance immediately if the payment was made using a gift card, otherwise the refund
        would take 5-7 business days to process. The function returns the order details after the
        cancellation.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
            reason: The reason for cancellation, which should be either 'no longer needed' or
                'ordered by mistake'.
        """
        if self._order(order_id).status != "pending":
            raise ValueError("Non-pending order cannot be cancelled")
        if reason not in CANCEL_REASONS:
            raise ValueError("Invalid reason")
        order = self._own_order(order_id)
        refunds = []
        for payment in order.payment_history:
            refunds.append(
                OrderPayment(
                    transaction_type="refund",
                    amount=payment.amount,
                    payment_method_id=payment.payment_method_id,
                )
            )
            method = self._payment_method(order.user_id, payment.payment_method_id)
            if isinstance(method, GiftCard):  # gift cards are refunded at once
                method = self._own_payment_method(order.user_id, payment.payment_method_id)
                method.balance = round(method.balance + payment.amount, 2)
        order.status = "cancelled"
        order.cancel_reason = reason  # type: ignore[assignment]
        order.payment_history.extend(refunds)
        return order

    @tool(mutates=True)
    def modify_pending_order_address(
        self,
        order_id: str,
        address1: str,
        address2: str,
        city: str,
        state: str,
        country: str,
        zip: str,
    ) -> Order:
        """Modify the shipping address of a pending order. The agent needs to explain the
        modification detail and ask for explicit user confirmation (yes/no) to proceed.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
            address1: The first line of the address, such as '123 Main St'.
            address2: The second line of the address, such as 'Apt 1' or ''.
            city: The city, such as 'San Francisco'.
            state: The state, such as 'CA'.
            country: The country, such as 'USA'.
            zip: The zip code, such as '12345'.
        """
        if "pending" not in self._order(order_id).status:
            raise ValueError("Non-pending order cannot be modified")
        order = self._own_order(order_id)
        order.address = UserAddress(
            address1=address1, address2=address2, city=city, state=state, country=country, zip=zip
        )
        return order

    @tool(mutates=True)
    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> Order:
        """Modify items in a pending order to new items of the same product type. For a pending
        order, this function can only be called once. The agent needs to explain the exchange detail
        and ask for explicit user confirmation (yes/no) to proceed.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
            item_ids: The item ids to be modified, each such as '1008292230'. There could be
                duplicate items in the list.
            new_item_ids: The item ids to be modified for, each such as '1008292230'. There could be
                duplicate items in the list. Each new item id should match the item id in the same
                position and be of the same product.
            payment_method_id: The payment method id to pay or receive refund for the item price
                difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
                looked up from the user or order details.
        """
        order, diff_price, variant, method = self._check_swap(
            MODIFY_PENDING, order_id, item_ids, new_item_ids, payment_method_id)

        order = self._own_order(order_id)
        order.payment_history.append(
            OrderPayment(
                transaction_type="payment" if diff_price > 0 else "refund",
                amount=abs(diff_price),
                payment_method_id=payment_method_id,
            )
        )
        if isinstance(method, GiftCard):
            method = self._own_payment_method(order.user_id, payment_method_id)
            method.balance = round(method.balance - diff_price, 2)
        for item_id, new_item_id in zip(item_ids, new_item_ids):
            item = next((item for item in order.items if item.item_id == item_id), None)
            if item is None:
                raise ValueError(f"Item {item_id} not found")
            item.item_id = new_item_id
            # tau2-bench quirk, kept for score parity: every modified item takes the price and
            # options of the *last* new variant, not of its own.
            item.price = variant.price
            item.options = dict(variant.options)
        order.status = "pending (item modified)"
        return order

    @tool(mutates=True)
    def modify_pending_order_payment(self, order_id: str, payment_method_id: str) -> Order:
        """Modify the payment method of a pending order. The agent needs to explain the modification
        detail and ask for explicit user confirmation (yes/no) to proceed.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
            payment_method_id: The payment method id to pay or receive refund for the item price
                difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
                looked up from the user or order details.
        """
        order = self._order(order_id)
        if "pending" not in order.status:
            raise ValueError("Non-pending order cannot be modified")
        method = self._payment_method(order.user_id, payment_method_id)
        history = order.payment_history
        if len(history) != 1 or history[0].transaction_type != "payment":
            raise ValueError("There should be exactly one payment for a pending order")
        old_method_id = history[0].payment_method_id
        if old_method_id == payment_method_id:
            raise ValueError("The new payment method should be different from the current one")
        amount = history[0].amount
        if isinstance(method, GiftCard) and method.balance < amount:
            raise ValueError("Insufficient gift card balance to pay for the order")

        order = self._own_order(order_id)
        order.payment_history.extend(
            [
                OrderPayment(transaction_type="payment", amount=amount, payment_method_id=payment_method_id),
                OrderPayment(transaction_type="refund", amount=amount, payment_method_id=old_method_id),
            ]
        )
        if isinstance(method, GiftCard):
            method = self._own_payment_method(order.user_id, payment_method_id)
            method.balance = round(method.balance - amount, 2)
        old_method = self._payment_method(order.user_id, old_method_id)
        if isinstance(old_method, GiftCard):
            old_method = self._own_payment_method(order.user_id, old_method_id)
            old_method.balance = round(old_method.balance + amount, 2)
        return order

    # -- writes: delivered orders ----------------------------------------------------------
    @tool(mutates=True)
    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> Order:
        """Exchange items in a delivered order to new items of the same product type. For a
        delivered order, return or exchange can be only done once by the agent. The agent needs to
        explain the exchange detail and ask for explicit user confirmation (yes/no) to proceed.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
            item_ids: The item ids to be exchanged, each such as '1008292230'. There could be
                duplicate items in the list.
            new_item_ids: The item ids to be exchanged for, each such as '1008292230'. There could
                be duplicate items in the list. Each new item id should match the item id in the
                same position and be of the same product.
            payment_method_id: The payment method id to pay or receive refund for the item price
                difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
                looked up from the user or order details.
        """
        _, diff_price, _, _ = self._check_swap(EXCHANGE_DELIVERED, order_id, item_ids, new_item_ids, payment_method_id)

        order = self._own_order(order_id)
        order.status = "exchange requested"
        order.exchange_items = sorted(item_ids)
        order.exchange_new_items = sorted(new_item_ids)
        order.exchange_payment_method_id = payment_method_id
        order.exchange_price_difference = diff_price
        return order

    @tool(mutates=True)
    def return_delivered_order_items(
        self, order_id: str, item_ids: list[str], payment_method_id: str
    ) -> Order:
        """Return some items of a delivered order. The order status will be changed to 'return
        requested'. The agent needs to explain the return detail and ask for explicit user
        confirmation (yes/no) to proceed. The user will receive follow-up email for how and where to
        return the item.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
                beginning of the order id.
            item_ids: The item ids to be returned, each such as '1008292230'. There could be
                duplicate items in the list.
            payment_method_id: The payment method id to pay or receive refund for the item price
                difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
                looked up from the user or order details.
        """
        order = self._order(order_id)
        if order.status != "delivered":
            raise ValueError("Non-delivered order cannot be returned")
        method = self._payment_method(self._user(order.user_id).user_id, payment_method_id)
        original = order.payment_history[0].payment_method_id
        if not isinstance(method, GiftCard) and payment_method_id != original:
            raise ValueError("Payment method should be the original payment method")
        self._count_check(order, item_ids, "Some item not found")

        order = self._own_order(order_id)
        order.status = "return requested"
        order.return_items = sorted(item_ids)
        order.return_payment_method_id = payment_method_id
        return order

    # -- writes: users ---------------------------------------------------------------------
    @tool(mutates=True)
    def modify_user_address(
        self,
        user_id: str,
        address1: str,
        address2: str,
        city: str,
        state: str,
        country: str,
        zip: str,
    ) -> User:
        """Modify the default address of a user. The agent needs to explain the modification detail
        and ask for explicit user confirmation (yes/no) to proceed.

        Args:
            user_id: The user id, such as 'sara_doe_496'.
            address1: The first line of the address, such as '123 Main St'.
            address2: The second line of the address, such as 'Apt 1' or ''.
            city: The city, such as 'San Francisco'.
            state: The state, such as 'CA'.
            country: The country, such as 'USA'.
            zip: The zip code, such as '12345'.
        """
        self._user(user_id)
        user = self.own(self.db.users, user_id)
        user.address = UserAddress(
            address1=address1, address2=address2, city=city, state=state, country=country, zip=zip
        )
        return user

    # -- shared by the two item-swapping tools ---------------------------------------------
    def _check_swap(
        self, rule: "SwapRule", order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> tuple[Order, float, Variant, Any]:
        """tau2's checks before swapping items, in its order; nothing is written.
        Returns the order, the price difference, the last new variant and the payment method."""
        order = self._order(order_id)
        if order.status != rule.status:
            raise ValueError(rule.wrong_status)
        self._count_check(order, item_ids, rule.missing_item)
        if len(item_ids) != len(new_item_ids):
            raise ValueError(rule.count_mismatch)
        diff_price, variant = self._price_difference(order, item_ids, new_item_ids, same_id_ok=rule.same_id_ok)
        if rule.round_difference:
            diff_price = round(diff_price, 2)
        method = self._payment_method(order.user_id, payment_method_id)
        if isinstance(method, GiftCard) and method.balance < diff_price:
            raise ValueError(rule.short_balance)
        return order, diff_price, variant, method

    def _price_difference(
        self, order: Order, item_ids: list[str], new_item_ids: list[str], same_id_ok: bool
    ) -> tuple[float, Variant]:
        """Summed new-minus-old price over the pairs, and the last new variant (see the quirk)."""
        diff_price: float = 0  # an int until a price is added, as upstream (JSON "0" vs "0.0")
        variant: Variant | None = None
        for item_id, new_item_id in zip(item_ids, new_item_ids):
            if not same_id_ok and item_id == new_item_id:
                raise ValueError("The new item id should be different from the old item id")
            item = next((item for item in order.items if item.item_id == item_id), None)
            if item is None:
                raise ValueError(f"Item {item_id} not found")
            variant = self._variant(item.product_id, new_item_id)
            if not variant.available:
                raise ValueError(f"New item {new_item_id} not found or available")
            diff_price += variant.price - item.price
        return diff_price, variant  # type: ignore[return-value]
