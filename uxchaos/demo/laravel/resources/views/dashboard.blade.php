@extends('layouts.app')

@section('title', 'Dashboard')

@section('content')
    <h1>Welcome, {{ $user->name }}</h1>
    <h2>Your last logins, as the queue worker recorded them</h2>
    <table id="logins">
        <tr><th>#</th><th>When</th><th>From</th><th>Worker PID</th><th>Worker</th></tr>
        @forelse ($logins as $login)
            <tr><td>{{ $login->id }}</td><td>{{ $login->processed_at }}</td><td>{{ $login->ip_address }}</td><td>{{ $login->worker_pid }}</td><td class="worker">{{ $login->worker }}</td></tr>
        @empty
            <tr><td colspan="5">none yet</td></tr>
        @endforelse
    </table>
    <p>Jobs waiting on the queue: <span id="pending">{{ $pending }}</span></p>
    <form method="POST" action="{{ route('logout') }}">
        @csrf
        <button id="logout" type="submit">Log out</button>
    </form>
@endsection
